// Ctrl-C (SIGINT) and SIGTERM in vae-train: the first one asks the run to
// stop (vae_interrupt on the trainer at work, if any) and restores both
// signals' default actions, so that a second one ends the process at once.
#ifndef VAE_APPS_STOP_SIGNALS_H
#define VAE_APPS_STOP_SIGNALS_H

#include <signal.h>
#include <vae/vae.h>

namespace vae_app {

// While alive, SIGINT and SIGTERM are caught; the destructor restores the
// actions found. A signal ignored when the process started (SIGINT in a job
// that a non-interactive shell put in the background) stays ignored, as
// shells expect. Throws std::runtime_error when sigaction fails.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first signal caught (SIGINT or SIGTERM), or 0.
  static int received();

 private:
  struct sigaction previous_interrupt_ {};
  struct sigaction previous_terminate_ {};
};

// While alive, a signal caught calls vae_interrupt(trainer): the epoch or
// dataset evaluation running on it stops before its next step or chunk.
// The destructor waits for a handler still using the trainer, so the
// trainer may be destroyed after it.
class InterruptTarget {
 public:
  explicit InterruptTarget(vae_trainer* trainer);
  ~InterruptTarget();
  InterruptTarget(const InterruptTarget&) = delete;
  InterruptTarget& operator=(const InterruptTarget&) = delete;
};

// 128 + the signal number, as shells report a process the signal ended:
// 130 for SIGINT, 143 for SIGTERM.
constexpr int exit_status_for_signal(int signal_number) { return 128 + signal_number; }
constexpr bool is_signal_exit_status(int status) {
  return status == exit_status_for_signal(SIGINT) || status == exit_status_for_signal(SIGTERM);
}

}  // namespace vae_app

#endif  // VAE_APPS_STOP_SIGNALS_H
