// Progress on stdout. On a terminal a bar line is redrawn with \r as an epoch
// moves through its stages, and as the log-likelihood estimate moves through
// the test rows; elsewhere only whole lines appear:
//   epoch 3/10  loss 245.31  test elbo -250.12 (rec -230.1, kl 20.0)  12345 rows/s  eta 0:42
// An epoch's bar fills with its training rows and stays full while the
// epoch is evaluated and saved; the estimate has a bar of its own.
#ifndef VAE_APPS_PROGRESS_H
#define VAE_APPS_PROGRESS_H

#include <cstdint>
#include <cstdio>
#include <string>

#include "metrics_csv.h"

namespace vae_app {

// "m:ss", or "h:mm:ss" from an hour on.
std::string format_duration(double seconds);

// "[#####...................] " followed by text: a bar of 24 cells,
// `fraction` of them filled (rounded down; fraction clamped to [0, 1]).
std::string bar_line(double fraction, const std::string& text);

// Seconds left for a task `done` of `total` through after `seconds`, at
// its rate so far (0 when nothing is done yet or all is).
double seconds_left(std::int64_t done, std::int64_t total, double seconds);

class EpochProgress {
 public:
  // Writes to out (stdout by default).
  EpochProgress(bool interactive, std::int64_t total_epochs, std::FILE* out = stdout);
  ~EpochProgress();  // ends a bar line left open
  EpochProgress(const EpochProgress&) = delete;
  EpochProgress& operator=(const EpochProgress&) = delete;

  // Redraws the training bar of epoch (1-based): rows done of total, rows
  // per second, time left in the epoch, the running loss; only on a
  // terminal, and at most ten times a second (the last update always).
  void show_training(std::int64_t epoch, std::int64_t rows_done, std::int64_t rows_total,
                     double running_loss, double seconds);
  // Shows the epoch's evaluation: rows done of total and the time left in
  // it, behind the epoch's full bar; as show_training draws.
  void show_evaluation(std::int64_t epoch, std::int64_t rows_done, std::int64_t rows_total,
                       double seconds);
  // Shows that epoch (1-based) is in `stage` ("saving"), behind its full bar;
  // only on a terminal.
  void show_stage(std::int64_t epoch, const char* stage);
  // Prints the epoch's line. rows_per_second: training throughput;
  // epoch_seconds: the epoch's whole wall time, for the remaining-time estimate.
  void finish_epoch(const EpochMetrics& metrics, double rows_per_second, double epoch_seconds);

 private:
  // Draws the line when due: always for the last update, else at most ten
  // times a second.
  bool due(bool last, double seconds);
  void draw(const std::string& line);

  bool interactive_;
  std::FILE* out_;
  bool line_open_ = false;
  std::int64_t total_epochs_;
  std::int64_t epochs_timed_ = 0;
  double seconds_timed_ = 0.0;
  double last_drawn_ = -1.0;
};

// The bar of one long task outside the epochs, the log-likelihood estimate:
// on a terminal a bar line with the rows done, the running mean and the time
// left, redrawn at most ten times a second; elsewhere a line every tenth of
// the rows.
class TaskProgress {
 public:
  TaskProgress(bool interactive, std::string label, std::FILE* out = stdout);
  ~TaskProgress();  // ends a bar line left open
  TaskProgress(const TaskProgress&) = delete;
  TaskProgress& operator=(const TaskProgress&) = delete;

  void update(std::int64_t done, std::int64_t total, double running_mean, double seconds);

 private:
  bool interactive_;
  std::string label_;
  std::FILE* out_;
  bool line_open_ = false;
  double last_drawn_ = -1.0;
  std::int64_t tenths_shown_ = 0;
};

}  // namespace vae_app

#endif  // VAE_APPS_PROGRESS_H
