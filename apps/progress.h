// Per-epoch progress on stdout. On a terminal a bar line is redrawn with \r
// as an epoch moves through its stages; elsewhere only whole lines appear:
//   epoch 3/10  loss 245.31  test elbo -250.12 (rec -230.1, kl 20.0)  12345 rows/s  eta 0:42
#ifndef VAE_APPS_PROGRESS_H
#define VAE_APPS_PROGRESS_H

#include <cstdint>
#include <string>

#include "metrics_csv.h"

namespace vae_app {

// "m:ss", or "h:mm:ss" from an hour on.
std::string format_duration(double seconds);

class EpochProgress {
 public:
  EpochProgress(bool interactive, std::int64_t total_epochs);
  ~EpochProgress();  // ends a bar line left open
  EpochProgress(const EpochProgress&) = delete;
  EpochProgress& operator=(const EpochProgress&) = delete;

  // Shows that epoch (1-based) is in `stage`; only on a terminal.
  void show_stage(std::int64_t epoch, const char* stage);
  // Redraws the training bar of epoch (1-based): rows done of total, rows
  // per second, time left in the epoch, the running loss; only on a
  // terminal, and at most ten times a second.
  void show_training(std::int64_t epoch, std::int64_t rows_done, std::int64_t rows_total,
                     double running_loss, double seconds);
  // Prints the epoch's line. rows_per_second: training throughput;
  // epoch_seconds: the epoch's whole wall time, for the remaining-time estimate.
  void finish_epoch(const EpochMetrics& metrics, double rows_per_second, double epoch_seconds);

 private:
  bool interactive_;
  bool line_open_ = false;
  std::int64_t total_epochs_;
  std::int64_t epochs_timed_ = 0;
  double seconds_timed_ = 0.0;
  double last_drawn_ = -1.0;
};

}  // namespace vae_app

#endif  // VAE_APPS_PROGRESS_H
