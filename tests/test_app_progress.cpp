// vae-train's progress lines (apps/progress.h): the bar, the time left, and
// what a terminal sees through an epoch and through the log-likelihood
// estimate. The bar of an epoch never empties once its training is done
// (issue 12: it used to fall back to the epochs' count, empty in the first
// epoch, while the epoch was evaluated and saved).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "progress.h"

namespace {

using vae_app::bar_line;

// Everything written to a FILE*, read back once it is closed.
class Captured {
 public:
  Captured() : file_(open_memstream(&data_, &size_)) {}
  ~Captured() {
    if (file_ != nullptr) std::fclose(file_);
    std::free(data_);
  }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

// The lines a terminal shows in turn: the text between the \r\x1b[K that
// each redraw starts with, and the newlines.
std::vector<std::string> drawn(const std::string& text) {
  std::vector<std::string> lines;
  std::string current;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 4, "\r\x1b[K") == 0) {
      if (!current.empty()) lines.push_back(current);
      current.clear();
      i += 3;
    } else if (text[i] == '\n') {
      lines.push_back(current);
      current.clear();
    } else {
      current += text[i];
    }
  }
  if (!current.empty()) lines.push_back(current);
  return lines;
}

// The filled cells of a bar line, or -1 for a line without a bar.
int filled(const std::string& line) {
  if (line.size() < 26 || line[0] != '[' || line[25] != ']') return -1;
  return static_cast<int>(std::count(line.begin(), line.begin() + 25, '#'));
}

TEST(AppProgress, BarLineFillsInProportionAndClamps) {
  EXPECT_EQ(bar_line(0.0, "x"), "[........................] x");
  EXPECT_EQ(bar_line(1.0, "x"), "[########################] x");
  EXPECT_EQ(bar_line(0.5, ""), "[############............] ");
  EXPECT_EQ(filled(bar_line(0.99, "")), 23);
  EXPECT_EQ(filled(bar_line(-3.0, "")), 0);
  EXPECT_EQ(filled(bar_line(7.0, "")), 24);
  EXPECT_EQ(filled(bar_line(std::nan(""), "")), 0);
}

TEST(AppProgress, SecondsLeftFollowTheRateSoFar) {
  EXPECT_DOUBLE_EQ(vae_app::seconds_left(25, 100, 10.0), 30.0);
  EXPECT_DOUBLE_EQ(vae_app::seconds_left(0, 100, 10.0), 0.0);
  EXPECT_DOUBLE_EQ(vae_app::seconds_left(100, 100, 10.0), 0.0);
  EXPECT_EQ(vae_app::format_duration(30.0), "0:30");
  EXPECT_EQ(vae_app::format_duration(3725.0), "1:02:05");
}

TEST(AppProgress, AnEpochsBarStaysFullAfterItsTraining) {
  Captured out;
  {
    vae_app::EpochProgress progress(true, 10, out.file());
    for (int64_t rows = 0; rows <= 1000; rows += 100) {
      progress.show_training(1, rows, 1000, 250.0, 0.2 * static_cast<double>(rows) / 100.0);
    }
    progress.show_stage(1, "evaluating");
    for (int64_t rows = 0; rows <= 500; rows += 50) {
      progress.show_evaluation(1, rows, 500, 0.2 * static_cast<double>(rows) / 50.0);
    }
    progress.show_stage(1, "saving");
    vae_app::EpochMetrics metrics;
    metrics.epoch = 1;
    progress.finish_epoch(metrics, 1000.0, 3.0);
    progress.show_training(2, 100, 1000, 240.0, 0.5);
  }
  const std::vector<std::string> lines = drawn(out.text());
  int previous = -1;
  bool evaluated = false, saved = false, finished = false;
  for (const std::string& line : lines) {
    const int cells = filled(line);
    if (line.rfind("epoch 1/10  loss", 0) == 0) {
      finished = true;
      previous = -1;  // the epoch's line ends its bar; the next epoch starts anew
      continue;
    }
    ASSERT_GE(cells, 0) << line;
    if (!finished) {
      EXPECT_GE(cells, previous) << "the bar went back: " << line;
      previous = cells;
    }
    evaluated = evaluated || line.find("evaluating 100%") != std::string::npos;
    saved = saved || line.find("saving...") != std::string::npos;
  }
  EXPECT_TRUE(evaluated);
  EXPECT_TRUE(saved);
  EXPECT_TRUE(finished);
  EXPECT_EQ(filled(lines.back()), 2);  // epoch 2 at 10%
}

TEST(AppProgress, TheEstimateHasABarOnATerminalAndTenthsElsewhere) {
  Captured terminal;
  {
    vae_app::TaskProgress progress(true, "log-likelihood", terminal.file());
    for (int64_t rows = 0; rows <= 10000; rows += 1000) {
      progress.update(rows, 10000, -238.5, static_cast<double>(rows) / 200.0);
    }
  }
  const std::vector<std::string> lines = drawn(terminal.text());
  ASSERT_FALSE(lines.empty());
  int previous = -1;
  for (const std::string& line : lines) {
    EXPECT_GE(filled(line), previous) << line;
    previous = filled(line);
  }
  EXPECT_EQ(filled(lines.back()), 24);
  EXPECT_NE(lines[lines.size() / 2].find("eta 0:"), std::string::npos) << lines[lines.size() / 2];
  EXPECT_NE(lines.back().find("10000/10000 rows  mean -238.50"), std::string::npos)
      << lines.back();

  Captured log;
  {
    vae_app::TaskProgress progress(false, "log-likelihood", log.file());
    for (int64_t rows = 0; rows <= 10000; rows += 250) {
      progress.update(rows, 10000, -238.5, static_cast<double>(rows) / 200.0);
    }
  }
  const std::vector<std::string> plain = drawn(log.text());
  EXPECT_EQ(plain.size(), 9u);  // 10% .. 90%; the caller prints the result
  EXPECT_EQ(log.text().find('\r'), std::string::npos);
}

}  // namespace
