// The allreduce hook of data parallelism (vae_set_allreduce) relayed to a
// Python callable: hook(buffer, stream), called once per training step with
// the step's whole buffer (the flat gradient and its 128-float tail, vae.h),
// which it must replace in place by the sum of every rank's buffer.
//
// On the host the buffer is a NumPy float32 array over the trainer's own
// memory and stream is None; on the CUDA backend it is an array on the GPU
// that DLPack consumers take without a copy (torch.from_dlpack) and stream
// is the cudaStream_t, as an int, that the sum must be ordered on. Either
// way the array views memory the trainer reuses at every step: a hook that
// keeps it past its return must copy it. A view kept anyway keeps the
// trainer's memory alive (its owner holds the trainer), so reading it later
// reads the values of a later step, never freed memory.
//
// An exception the callable raises (a KeyboardInterrupt too) fails the step
// with VAE_ERROR_DEVICE and the exception's text, so the step changes
// nothing, and is raised again by the call that made the step (on the
// thread that made it, take_pending).
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <vae/vae.h>

namespace libvae_ext {

class AllreduceRelay {
 public:
  // memory: what holds the trainer's buffers (TrainerHandle::memory()),
  // held weakly here: the handle owns this relay, and a view made of it
  // holds the trainer alone (so a view the hook keeps makes no cycle).
  AllreduceRelay(nanobind::object hook, int32_t device, std::weak_ptr<void> memory)
      : hook_(std::move(hook)), device_(device), memory_(std::move(memory)) {}

  nanobind::handle hook() const { return hook_; }

  static int call(void* self, float* buffer, int64_t count, int on_device, void* stream,
                  char* message, size_t message_size) noexcept {
    return static_cast<AllreduceRelay*>(self)->relay(buffer, count, on_device, stream, message,
                                                     message_size);
  }

  // Takes the exception the callable raised in the call that just
  // returned, if any. To be called while that call still holds the trainer
  // (TrainerHandle::run): another thread's call, which may raise its own
  // exception here as soon as the trainer is free, then cannot take or
  // replace it, so each exception reaches the call that raised it.
  std::exception_ptr take_pending() { return std::exchange(pending_, nullptr); }

 private:
  int relay(float* buffer, int64_t count, int on_device, void* stream, char* message,
            size_t message_size) noexcept {
    namespace nb = nanobind;
    nb::gil_scoped_acquire gil;
    try {
      // A view of the trainer's buffer, owned by a capsule that holds the
      // trainer's memory (an array without an owner would be copied).
      const nb::capsule owner = holding(memory_.lock());
      const size_t shape[1] = {static_cast<size_t>(count)};
      if (on_device != 0) {
        nb::ndarray<float, nb::ndim<1>> view(buffer, 1, shape, owner, nullptr, nb::dtype<float>(),
                                             nb::device::cuda::value, device_);
        hook_(nb::cast(view, nb::rv_policy::reference), reinterpret_cast<uintptr_t>(stream));
      } else {
        nb::ndarray<nb::numpy, float, nb::ndim<1>> view(buffer, 1, shape, owner);
        hook_(nb::cast(view, nb::rv_policy::reference), nb::none());
      }
      return VAE_OK;
    } catch (const nb::python_error& e) {
      pending_ = std::current_exception();
      write(message, message_size, std::string("the Python allreduce hook raised ") + e.what());
    } catch (const std::exception& e) {
      pending_ = std::current_exception();
      write(message, message_size, std::string("the Python allreduce hook failed: ") + e.what());
    } catch (...) {
      pending_ = std::current_exception();
      write(message, message_size, "the Python allreduce hook failed");
    }
    return VAE_ERROR_DEVICE;
  }

  // A capsule that keeps `held` alive for as long as Python holds it.
  static nanobind::capsule holding(std::shared_ptr<void> held) {
    auto box = std::make_unique<std::shared_ptr<void>>(std::move(held));
    nanobind::capsule capsule(box.get(), [](void* p) noexcept {
      std::unique_ptr<std::shared_ptr<void>>(static_cast<std::shared_ptr<void>*>(p));
    });
    box.release();
    return capsule;
  }

  static void write(char* message, size_t size, const std::string& text) {
    if (size == 0) return;
    const size_t length = text.size() < size - 1 ? text.size() : size - 1;
    std::memcpy(message, text.data(), length);
    message[length] = '\0';
  }

  nanobind::object hook_;
  int32_t device_;
  std::weak_ptr<void> memory_;
  std::exception_ptr pending_;
};

}  // namespace libvae_ext
