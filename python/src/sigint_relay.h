// Ctrl-C during a long call of the extension (the array evaluations,
// encoding, decoding, sampling, and the dataset calls between their progress
// reports). Python's SIGINT handler only sets a flag that the interpreter
// reads between bytecodes, never while a call runs in C without the GIL; so
// while such a call runs on the main thread, SIGINT is caught here instead:
// the handler asks the trainer to stop (vae_interrupt, which is
// signal-safe), and when the call has returned the signal is handed back to
// Python (PyErr_SetInterrupt), whose handler then raises KeyboardInterrupt
// in place of the call's own Interrupted. Elsewhere (other threads, SIGINT
// ignored or at its default action) nothing changes.
#pragma once

#include <signal.h>

#include <atomic>

#include <nanobind/nanobind.h>
#include <vae/vae.h>

namespace libvae_ext {

class SigintRelay {
 public:
  // With the GIL held, before the call.
  explicit SigintRelay(vae_trainer* trainer) {
    if (!on_main_thread() || !python_handles_sigint()) return;
    target_.store(trainer);
    caught_.store(false);
    struct sigaction action {};
    action.sa_handler = &SigintRelay::on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    active_ = sigaction(SIGINT, &action, &previous_) == 0;
  }
  // Puts Python's handler back (also where the call threw).
  ~SigintRelay() { restore(); }
  SigintRelay(const SigintRelay&) = delete;
  SigintRelay& operator=(const SigintRelay&) = delete;

  // With the GIL held, after the call: a SIGINT caught during it is raised
  // now as Python raises it (KeyboardInterrupt, or the user's handler).
  void raise_caught() {
    restore();
    if (!caught_.exchange(false)) return;
    PyErr_SetInterrupt();
    if (PyErr_CheckSignals() != 0) throw nanobind::python_error();
  }

 private:
  static void on_sigint(int) {
    caught_.store(true);
    if (vae_trainer* t = target_.load()) vae_interrupt(t);
  }

  void restore() {
    if (!active_) return;
    sigaction(SIGINT, &previous_, nullptr);
    target_.store(nullptr);
    active_ = false;
  }

  static bool on_main_thread() {
    namespace nb = nanobind;
    const nb::object threading = nb::module_::import_("threading");
    return threading.attr("current_thread")().is(threading.attr("main_thread")());
  }

  // Whether SIGINT runs a Python handler (default_int_handler or the
  // user's), rather than being ignored or at its default action.
  static bool python_handles_sigint() {
    namespace nb = nanobind;
    const nb::object handler = nb::module_::import_("signal").attr("getsignal")(SIGINT);
    return PyCallable_Check(handler.ptr()) != 0;
  }

  static inline std::atomic<vae_trainer*> target_{nullptr};
  static inline std::atomic<bool> caught_{false};
  static_assert(std::atomic<vae_trainer*>::is_always_lock_free);
  static_assert(std::atomic<bool>::is_always_lock_free);
  bool active_ = false;
  struct sigaction previous_ {};
};

}  // namespace libvae_ext
