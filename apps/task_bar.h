// The progress callback (vae_set_progress) of vae-train's closing tasks, the
// log-likelihood estimate and the diagnostics: it draws the task's bar and
// passes on a signal caught just before the task began, as EpochBar does.
#ifndef VAE_APPS_TASK_BAR_H
#define VAE_APPS_TASK_BAR_H

#include <vae/vae.h>

#include <chrono>
#include <cstdint>

#include "progress.h"
#include "stop_signals.h"

namespace vae_app {

struct TaskBar {
  using Clock = std::chrono::steady_clock;

  TaskProgress* progress;
  Clock::time_point start;
  vae_trainer* trainer;

  static void update(void* user_data, std::int64_t rows_done, std::int64_t rows_total,
                     double running_mean) {
    const auto* bar = static_cast<const TaskBar*>(user_data);
    if (StopSignals::received() != 0) vae_interrupt(bar->trainer);
    bar->progress->update(rows_done, rows_total, running_mean,
                          std::chrono::duration<double>(Clock::now() - bar->start).count());
  }
};

}  // namespace vae_app

#endif  // VAE_APPS_TASK_BAR_H
