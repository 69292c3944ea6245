// vae-train --patience: the early-stopping rule (apps/early_stopping.h) over
// scripted sequences of validation ELBOs, ties and NaN among them, and the
// figures of metrics.csv it observes, which a resumed run reads back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "app_io_fixture.h"
#include "early_stopping.h"
#include "metrics_csv.h"

namespace {

using vae_app::EarlyStopping;
using Verdict = EarlyStopping::Verdict;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A scripted run: its patience, the ELBO of each epoch (1, 2, ...), and
// what the rule must say: the epoch it stops after (0: it does not) and the
// best epoch then.
struct Script {
  const char* name;
  std::int64_t patience;
  std::vector<double> elbos;
  std::int64_t stop_epoch;
  std::int64_t best_epoch;
};

// Observes the script's ELBOs up to the stop, checking each verdict against
// the rule restated: strictly above every ELBO before it that is a number.
void run_script(const Script& script) {
  SCOPED_TRACE(script.name);
  EarlyStopping rule(script.patience);
  std::int64_t since_best = 0;
  bool have_best = false;
  double best = 0.0;
  for (std::size_t i = 0; i < script.elbos.size(); ++i) {
    const auto epoch = static_cast<std::int64_t>(i) + 1;
    const double elbo = script.elbos[i];
    const bool improves = !std::isnan(elbo) && (!have_best || elbo > best);
    since_best = improves ? 0 : since_best + 1;
    if (improves) {
      have_best = true;
      best = elbo;
    }
    const Verdict expected = improves                        ? Verdict::improved
                             : since_best >= script.patience ? Verdict::stop
                                                             : Verdict::waiting;
    ASSERT_EQ(rule.observe(epoch, elbo), expected) << "epoch " << epoch;
    EXPECT_EQ(rule.last_epoch(), epoch);
    EXPECT_EQ(rule.epochs_without_improvement(), since_best);
    if (expected == Verdict::stop) {
      EXPECT_TRUE(rule.stopped());
      EXPECT_EQ(epoch, script.stop_epoch);
      EXPECT_EQ(rule.best_epoch(), script.best_epoch);
      if (script.best_epoch > 0) {
        EXPECT_EQ(rule.best_elbo(), script.elbos[static_cast<std::size_t>(script.best_epoch) - 1]);
      }
      // Nothing comes after a stop.
      EXPECT_THROW(rule.observe(epoch + 1, 0.0), std::logic_error);
      return;
    }
    EXPECT_FALSE(rule.stopped());
  }
  EXPECT_EQ(script.stop_epoch, 0) << "the rule did not stop";
  EXPECT_EQ(rule.best_epoch(), script.best_epoch);
}

TEST(EarlyStopping, ScriptedRunsStopAtTheirEpoch) {
  const std::vector<Script> scripts{
      {"rising: never stops", 2, {-50, -40, -30, -20, -10}, 0, 5},
      {"patience 1 stops at the first epoch without improvement", 1, {-50, -40, -45, -10}, 3, 2},
      {"patience 3", 3, {-44, -40, -33, -31, -29.3, -31.8, -29.4, -29.5, -28}, 8, 5},
      {"an improvement on the last allowed epoch resets the count",
       3,
       {-10, -12, -11, -9, -9.5, -9.6, -9.7},
       7,
       4},
      {"a tie is no improvement: the first epoch of the best stays best",
       2,
       {-10, -5, -5, -5},
       4,
       2},
      {"ties and falls count together", 3, {-5, -5, -6, -5}, 4, 1},
      {"a NaN first is no improvement", 2, {kNaN, -7, -8, -9}, 4, 2},
      {"a NaN after the best counts as no improvement", 2, {-7, kNaN, -6, kNaN, kNaN}, 5, 3},
      {"only NaN: stops with no best", 3, {kNaN, kNaN, kNaN, -1}, 3, 0},
      {"-inf is a best, then improved on", 2, {-kInf, -1e300, -2e300, -kInf}, 4, 2},
      {"patience longer than the run", 10, {-3, -4, -5}, 0, 1},
  };
  for (const Script& script : scripts) run_script(script);
}

TEST(EarlyStopping, RefusesPatienceBelowOne) {
  EXPECT_THROW(EarlyStopping(0), std::invalid_argument);
  EXPECT_THROW(EarlyStopping(-3), std::invalid_argument);
  EXPECT_EQ(EarlyStopping(1).patience(), 1);
}

TEST(EarlyStopping, RefusesEpochsOutOfOrder) {
  EarlyStopping rule(2);
  EXPECT_THROW(rule.observe(2, -1.0), std::logic_error);  // epoch 1 first
  EXPECT_EQ(rule.observe(1, -1.0), Verdict::improved);
  EXPECT_THROW(rule.observe(1, 0.0), std::logic_error);  // twice
  EXPECT_THROW(rule.observe(3, 0.0), std::logic_error);  // a gap
  EXPECT_EQ(rule.best_epoch(), 1);                       // the refusals changed nothing
  EXPECT_EQ(rule.last_epoch(), 1);
}

// The rule observes the figures as metrics.csv holds them: what a resumed run
// reads back compares as what the uninterrupted run compared.
class EarlyStoppingFigures : public app_io_test::AppIoTest {};

TEST_F(EarlyStoppingFigures, AsWrittenIsWhatMetricsCsvReadsBack) {
  const std::vector<double> figures{
      -29.32761043211234, -29.327610431, -1e-300, 1.0 / 3.0, -123456789.987654, kNaN, kInf, -kInf,
      0.0, -0.0, 1e300, -7.25};
  std::vector<vae_app::EpochMetrics> rows;
  for (std::size_t i = 0; i < figures.size(); ++i) {
    vae_app::EpochMetrics row;
    row.epoch = static_cast<std::int64_t>(i) + 1;
    row.test_elbo = figures[i];
    rows.push_back(row);
  }
  const std::string file = path("metrics.csv");
  vae_app::write_metrics_csv(file, rows);
  const std::vector<vae_app::EpochMetrics> read = vae_app::read_metrics_csv(file);
  ASSERT_EQ(read.size(), figures.size());
  for (std::size_t i = 0; i < figures.size(); ++i) {
    const double written = vae_app::as_written(figures[i]);
    if (std::isnan(figures[i])) {
      EXPECT_TRUE(std::isnan(written));
      EXPECT_TRUE(std::isnan(read[i].test_elbo));
    } else {
      EXPECT_EQ(written, read[i].test_elbo) << figures[i];
      EXPECT_EQ(vae_app::as_written(written), written) << "not a fixed point: " << figures[i];
    }
  }
  // Two ELBOs that differ past the ninth digit tie as written, so that the
  // live run and a resume agree the second is no improvement.
  EXPECT_LT(figures[0], figures[1]);
  EXPECT_EQ(vae_app::as_written(figures[0]), vae_app::as_written(figures[1]));
}

}  // namespace
