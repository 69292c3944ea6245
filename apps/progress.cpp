#include "progress.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace vae_app {
namespace {

constexpr int kBarWidth = 24;
constexpr char kClearLine[] = "\r\x1b[K";
constexpr double kRedrawSeconds = 0.1;

std::string percent(double fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%3.0f%%", 100.0 * std::clamp(fraction, 0.0, 1.0));
  return text;
}

double fraction_of(std::int64_t done, std::int64_t total) {
  return total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
}

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

std::string bar_line(double fraction, const std::string& text) {
  const double clamped = std::isnan(fraction) ? 0.0 : std::clamp(fraction, 0.0, 1.0);
  const int filled = std::clamp(static_cast<int>(clamped * kBarWidth), 0, kBarWidth);
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(kBarWidth - filled), '.') + "] " + text;
}

double seconds_left(std::int64_t done, std::int64_t total, double seconds) {
  if (done <= 0 || done >= total || seconds <= 0.0) return 0.0;
  return seconds / static_cast<double>(done) * static_cast<double>(total - done);
}

EpochProgress::EpochProgress(bool interactive, std::int64_t total_epochs, std::FILE* out)
    : interactive_(interactive), out_(out), total_epochs_(total_epochs) {}

EpochProgress::~EpochProgress() {
  if (line_open_) {
    std::fputs("\n", out_);
    std::fflush(out_);
  }
}

bool EpochProgress::due(bool last, double seconds) {
  if (!last && last_drawn_ >= 0.0 && seconds - last_drawn_ < kRedrawSeconds) return false;
  last_drawn_ = last ? -1.0 : seconds;
  return true;
}

void EpochProgress::draw(const std::string& line) {
  std::fprintf(out_, "%s%s", kClearLine, line.c_str());
  std::fflush(out_);
  line_open_ = true;
}

void EpochProgress::show_training(std::int64_t epoch, std::int64_t rows_done,
                                  std::int64_t rows_total, double running_loss, double seconds) {
  if (!interactive_ || rows_total <= 0 || !due(rows_done >= rows_total, seconds)) return;
  const double done = fraction_of(rows_done, rows_total);
  const double rate = seconds > 0.0 ? static_cast<double>(rows_done) / seconds : 0.0;
  char text[160];
  std::snprintf(text, sizeof text, "epoch %lld/%lld  %s  loss %.2f  %.0f rows/s  eta %s",
                static_cast<long long>(epoch), static_cast<long long>(total_epochs_),
                percent(done).c_str(), running_loss, rate,
                format_duration(seconds_left(rows_done, rows_total, seconds)).c_str());
  draw(bar_line(done, text));
}

void EpochProgress::show_evaluation(std::int64_t epoch, std::int64_t rows_done,
                                    std::int64_t rows_total, double seconds) {
  if (!interactive_ || rows_total <= 0 || !due(rows_done >= rows_total, seconds)) return;
  char text[160];
  std::snprintf(text, sizeof text, "epoch %lld/%lld  evaluating %s  eta %s",
                static_cast<long long>(epoch), static_cast<long long>(total_epochs_),
                percent(fraction_of(rows_done, rows_total)).c_str(),
                format_duration(seconds_left(rows_done, rows_total, seconds)).c_str());
  draw(bar_line(1.0, text));
}

void EpochProgress::show_stage(std::int64_t epoch, const char* stage) {
  if (!interactive_) return;
  char text[160];
  std::snprintf(text, sizeof text, "epoch %lld/%lld  %s...", static_cast<long long>(epoch),
                static_cast<long long>(total_epochs_), stage);
  draw(bar_line(1.0, text));
}

void EpochProgress::finish_epoch(const EpochMetrics& metrics, double rows_per_second,
                                 double epoch_seconds) {
  ++epochs_timed_;
  seconds_timed_ += epoch_seconds;
  const double eta = seconds_timed_ / static_cast<double>(epochs_timed_) *
                     static_cast<double>(std::max<std::int64_t>(0, total_epochs_ - metrics.epoch));
  std::fprintf(
      out_,
      "%sepoch %lld/%lld  loss %.2f  test elbo %.2f (rec %.1f, kl %.1f)  %.0f rows/s  eta %s\n",
      interactive_ ? kClearLine : "", static_cast<long long>(metrics.epoch),
      static_cast<long long>(total_epochs_), metrics.train_loss, metrics.test_elbo,
      metrics.test_reconstruction, metrics.test_kl, rows_per_second, format_duration(eta).c_str());
  std::fflush(out_);
  line_open_ = false;
  last_drawn_ = -1.0;
}

TaskProgress::TaskProgress(bool interactive, std::string label, std::FILE* out)
    : interactive_(interactive), label_(std::move(label)), out_(out) {}

TaskProgress::~TaskProgress() {
  if (line_open_) {
    std::fputs("\n", out_);
    std::fflush(out_);
  }
}

void TaskProgress::update(std::int64_t done, std::int64_t total, double running_mean,
                          double seconds) {
  if (total <= 0) return;
  const bool last = done >= total;
  const double fraction = fraction_of(done, total);
  char text[200];
  std::snprintf(text, sizeof text, "%s %s  %lld/%lld rows  mean %.2f  %s  eta %s",
                label_.c_str(), percent(fraction).c_str(), static_cast<long long>(done),
                static_cast<long long>(total), running_mean, format_duration(seconds).c_str(),
                format_duration(seconds_left(done, total, seconds)).c_str());
  if (interactive_) {
    if (!last && last_drawn_ >= 0.0 && seconds - last_drawn_ < kRedrawSeconds) return;
    last_drawn_ = seconds;
    std::fprintf(out_, "%s%s", kClearLine, bar_line(fraction, text).c_str());
    line_open_ = true;
  } else {
    const auto tenths = static_cast<std::int64_t>(std::floor(10.0 * fraction));
    if (tenths <= tenths_shown_ || tenths >= 10) return;
    tenths_shown_ = tenths;
    std::fprintf(out_, "%s\n", text);
  }
  std::fflush(out_);
}

}  // namespace vae_app
