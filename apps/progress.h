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
  // Prints the epoch's line. rows_per_second: training throughput;
  // epoch_seconds: the epoch's whole wall time, for the remaining-time estimate.
  void finish_epoch(const EpochMetrics& metrics, double rows_per_second, double epoch_seconds);

 private:
  bool interactive_;
  bool line_open_ = false;
  std::int64_t total_epochs_;
  std::int64_t epochs_timed_ = 0;
  double seconds_timed_ = 0.0;
};

}  // namespace vae_app

#endif  // VAE_APPS_PROGRESS_H
