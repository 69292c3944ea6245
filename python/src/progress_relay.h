// The progress callback of an epoch or a dataset's evaluation
// (vae_set_progress) relayed to a Python callable.
#pragma once

#include <cstdint>
#include <exception>
#include <utility>

#include <nanobind/nanobind.h>
#include <vae/vae.h>

namespace libvae_ext {

namespace nb = nanobind;

// Relays the progress calls of an epoch or of a dataset's evaluation to a
// Python callable and checks there for signals. A Ctrl-C (the
// KeyboardInterrupt of Python's SIGINT handler), or an exception of the
// callable, stops the call before its next step or chunk (vae_interrupt) and
// is raised when the call returns.
class ProgressRelay {
 public:
  ProgressRelay(nb::object callback, vae_trainer* trainer)
      : callback_(std::move(callback)), trainer_(trainer) {}

  static void call(void* self, int64_t rows_done, int64_t rows_total, double mean_loss) noexcept {
    static_cast<ProgressRelay*>(self)->report(rows_done, rows_total, mean_loss);
  }

  void raise_pending() {
    if (pending_) std::rethrow_exception(std::exchange(pending_, nullptr));
  }

 private:
  void report(int64_t rows_done, int64_t rows_total, double mean_loss) noexcept {
    nb::gil_scoped_acquire gil;
    if (pending_) return;
    try {
      if (PyErr_CheckSignals() != 0) throw nb::python_error();
      if (!callback_.is_none()) callback_(rows_done, rows_total, mean_loss);
    } catch (...) {
      pending_ = std::current_exception();
      static_cast<void>(vae_interrupt(trainer_));  // cannot fail: trainer_ is not null
    }
  }

  nb::object callback_;
  vae_trainer* trainer_;
  std::exception_ptr pending_;
};

}  // namespace libvae_ext
