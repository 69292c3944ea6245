#include "progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace vae_app {
namespace {

constexpr int kBarWidth = 24;
constexpr char kClearLine[] = "\r\x1b[K";

}  // namespace

std::string format_duration(double seconds) {
  const auto total = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", total / 60, total % 60);
  }
  return text;
}

EpochProgress::EpochProgress(bool interactive, std::int64_t total_epochs)
    : interactive_(interactive), total_epochs_(total_epochs) {}

EpochProgress::~EpochProgress() {
  if (line_open_) {
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }
}

void EpochProgress::show_stage(std::int64_t epoch, const char* stage) {
  if (!interactive_) return;
  const double done =
      total_epochs_ > 0 ? static_cast<double>(epoch - 1) / static_cast<double>(total_epochs_) : 1.0;
  const int filled = std::clamp(static_cast<int>(done * kBarWidth), 0, kBarWidth);
  std::printf("%s[%s%s] epoch %lld/%lld  %s...", kClearLine, std::string(filled, '#').c_str(),
              std::string(kBarWidth - filled, '.').c_str(), static_cast<long long>(epoch),
              static_cast<long long>(total_epochs_), stage);
  std::fflush(stdout);
  line_open_ = true;
}

void EpochProgress::show_training(std::int64_t epoch, std::int64_t rows_done,
                                  std::int64_t rows_total, double running_loss, double seconds) {
  if (!interactive_ || rows_total <= 0) return;
  if (rows_done < rows_total && seconds - last_drawn_ < 0.1 && last_drawn_ >= 0.0) return;
  last_drawn_ = rows_done < rows_total ? seconds : -1.0;
  const double done = static_cast<double>(rows_done) / static_cast<double>(rows_total);
  const int filled = std::clamp(static_cast<int>(done * kBarWidth), 0, kBarWidth);
  const double rate = seconds > 0.0 ? static_cast<double>(rows_done) / seconds : 0.0;
  const double left = rate > 0.0 ? static_cast<double>(rows_total - rows_done) / rate : 0.0;
  std::printf("%s[%s%s] epoch %lld/%lld  %3.0f%%  loss %.2f  %.0f rows/s  eta %s", kClearLine,
              std::string(filled, '#').c_str(), std::string(kBarWidth - filled, '.').c_str(),
              static_cast<long long>(epoch), static_cast<long long>(total_epochs_), 100.0 * done,
              running_loss, rate, format_duration(left).c_str());
  std::fflush(stdout);
  line_open_ = true;
}

void EpochProgress::finish_epoch(const EpochMetrics& metrics, double rows_per_second,
                                 double epoch_seconds) {
  ++epochs_timed_;
  seconds_timed_ += epoch_seconds;
  const double eta = seconds_timed_ / static_cast<double>(epochs_timed_) *
                     static_cast<double>(std::max<std::int64_t>(0, total_epochs_ - metrics.epoch));
  std::printf(
      "%sepoch %lld/%lld  loss %.2f  test elbo %.2f (rec %.1f, kl %.1f)  %.0f rows/s  eta %s\n",
      interactive_ ? kClearLine : "", static_cast<long long>(metrics.epoch),
      static_cast<long long>(total_epochs_), metrics.train_loss, metrics.test_elbo,
      metrics.test_reconstruction, metrics.test_kl, rows_per_second, format_duration(eta).c_str());
  std::fflush(stdout);
  line_open_ = false;
}

}  // namespace vae_app
