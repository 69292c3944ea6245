// One vae_trainer as the extension holds it. The C API lets one thread at a
// time use a trainer, so every call runs under the trainer's mutex, with the
// GIL released so that other Python threads (and other trainers) go on.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <nanobind/nanobind.h>
#include <vae/vae.h>

#include "allreduce_relay.h"

namespace libvae_ext {

// A failed call: its status and vae_last_error()'s text (or the extension's
// own, for what it checks before calling). Raised in Python as the class of
// libvae._errors that matches the status.
class StatusError : public std::runtime_error {
 public:
  StatusError(vae_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  vae_status status() const { return status_; }

 private:
  vae_status status_;
};

[[noreturn]] inline void invalid_argument(const std::string& message) {
  throw StatusError(VAE_ERROR_INVALID_ARGUMENT, message);
}

// A call's status with the thread's message, read at once: a later call (a
// progress callback's) would replace the message.
struct Outcome {
  vae_status status = VAE_OK;
  std::string message;

  void check() const {
    if (status != VAE_OK) throw StatusError(status, message);
  }
};

inline Outcome outcome_of(vae_status status) {
  return status == VAE_OK ? Outcome{} : Outcome{status, vae_last_error()};
}

// Runs call() -> Outcome without the GIL, for the calls that need no trainer
// (vae_create, vae_load).
template <class Call>
Outcome run_without_gil(Call&& call) {
  nanobind::gil_scoped_release no_gil;
  return call();
}

using TrainerPtr = std::unique_ptr<vae_trainer, decltype(&vae_destroy)>;

class TrainerHandle {
 public:
  explicit TrainerHandle(TrainerPtr trainer)
      : trainer_(trainer.get(), trainer.get_deleter()) {
    trainer.release();
  }
  // A trainer outlived by views of its memory (memory()) keeps no hook: the
  // hook goes with its relay, here.
  ~TrainerHandle() {
    if (allreduce_) static_cast<void>(vae_set_allreduce(trainer_.get(), nullptr, nullptr));
  }
  TrainerHandle(const TrainerHandle&) = delete;
  TrainerHandle& operator=(const TrainerHandle&) = delete;

  // The trainer, for vae_interrupt alone: the one call that may be made
  // while another thread holds it.
  vae_trainer* get() const { return trainer_.get(); }

  // What keeps the trainer's memory alive, for arrays that view it (the
  // allreduce hook's buffer). It holds the trainer alone, not this handle:
  // a view the hook keeps then makes no cycle hook -> view -> trainer ->
  // relay -> hook through C++, which the garbage collector cannot see.
  std::shared_ptr<void> memory() const { return trainer_; }

  // The Python allreduce hook the trainer calls, and its exchange for
  // another (which returns the old one, to be released with the GIL held).
  // A lock of their own: the garbage collector reads the hook with the GIL
  // held, the calls with it released.
  std::shared_ptr<AllreduceRelay> allreduce() const {
    std::lock_guard<std::mutex> lock(allreduce_mutex_);
    return allreduce_;
  }
  std::shared_ptr<AllreduceRelay> exchange_allreduce(std::shared_ptr<AllreduceRelay> relay) {
    std::lock_guard<std::mutex> lock(allreduce_mutex_);
    return std::exchange(allreduce_, std::move(relay));
  }

  // Runs call(trainer) -> Outcome without the GIL, holding the trainer. A
  // call from the thread that holds it already (a progress callback using the
  // model that is training) is refused rather than deadlocked.
  template <class Call>
  Outcome run(Call&& call) {
    if (holder_.load() == std::this_thread::get_id()) {
      invalid_argument("the model is busy on this thread: a progress callback cannot use the "
                       "model that is training");
    }
    nanobind::gil_scoped_release no_gil;
    std::lock_guard<std::mutex> lock(mutex_);
    HolderMark mark(holder_);
    return call(trainer_.get());
  }

 private:
  // Names the thread that holds the trainer for as long as it holds it.
  class HolderMark {
   public:
    explicit HolderMark(std::atomic<std::thread::id>& holder) : holder_(holder) {
      holder_ = std::this_thread::get_id();
    }
    ~HolderMark() { holder_ = std::thread::id(); }
    HolderMark(const HolderMark&) = delete;
    HolderMark& operator=(const HolderMark&) = delete;

   private:
    std::atomic<std::thread::id>& holder_;
  };

  std::shared_ptr<AllreduceRelay> allreduce_;  // declared first: outlives trainer_, its caller
  mutable std::mutex allreduce_mutex_;
  std::shared_ptr<vae_trainer> trainer_;  // shared with the views of memory()
  std::mutex mutex_;
  std::atomic<std::thread::id> holder_{};
};

}  // namespace libvae_ext
