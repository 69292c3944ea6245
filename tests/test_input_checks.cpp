// Data given to the compute calls is checked as it is read (DESIGN.md
// section 4): a value that is not finite, or for the Bernoulli likelihood one
// outside [0, 1], is refused with VAE_ERROR_INVALID_ARGUMENT naming its row,
// counted from the start of the caller's array, and its column; the refused
// call changes nothing.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "input_check.h"
#include "test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

constexpr int64_t kDim = 12;
constexpr int64_t kBatch = 6;
constexpr int64_t kLatent = 3;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

TEST(InputValueOk, FollowsTheRule) {
  for (bool bernoulli : {false, true}) {
    for (float bad : {kNan, -kNan, kInf, -kInf}) {
      EXPECT_FALSE(input_value_ok(bad, bernoulli)) << bad;
      EXPECT_FALSE(input_value_ok(double(bad), bernoulli)) << bad;
    }
    for (float good : {0.0f, -0.0f, 1.0f, 0.5f, FLT_TRUE_MIN}) {
      EXPECT_TRUE(input_value_ok(good, bernoulli)) << good;
      EXPECT_TRUE(input_value_ok(double(good), bernoulli)) << good;
    }
  }
  for (float outside : {-FLT_TRUE_MIN, std::nextafter(1.0f, 2.0f), -1.0f, 2.0f, FLT_MAX, -FLT_MAX}) {
    EXPECT_FALSE(input_value_ok(outside, true)) << outside;
    EXPECT_TRUE(input_value_ok(outside, false)) << outside;
  }
}

// A trainer with one step taken, its whole state, and checks that a call is
// refused naming a row and column and leaves that state as it was.
class InputChecks : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    Config c = testing::small_config(kDim, kLatent, {7, 5}, kBatch);
    c.likelihood = GetParam();
    c.threads = 2;
    t_ = Trainer::create(c);
    t_->train_step(x_.data(), kBatch, nullptr);
  }

  bool bernoulli() const { return GetParam() == VAE_LIKELIHOOD_BERNOULLI; }

  struct State {
    std::vector<float> params, m, v;
    int64_t steps, epochs, draws;
    bool operator==(const State& o) const {
      return params == o.params && m == o.m && v == o.v && steps == o.steps &&
             epochs == o.epochs && draws == o.draws;
    }
  };
  State state() const {
    return {t_->read_state(StateBuffer::kParameters), t_->read_state(StateBuffer::kAdamFirstMoment),
            t_->read_state(StateBuffer::kAdamSecondMoment), t_->counters().steps,
            t_->counters().epochs, t_->counters().draws};
  }

  void expect_refused(const std::function<void()>& call, const std::string& name, int64_t row,
                      int64_t column) {
    const State before = state();
    try {
      call();
      ADD_FAILURE() << "a bad value of " << name << " at row " << row << ", column " << column
                    << " was taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), VAE_ERROR_INVALID_ARGUMENT) << e.what();
      const std::string want =
          name + ": row " + std::to_string(row) + ", column " + std::to_string(column) + " is ";
      EXPECT_EQ(std::string(e.what()).rfind(want, 0), 0u) << e.what() << " (wanted " << want << ")";
    }
    EXPECT_TRUE(state() == before);
  }

  // Every call that reads rows of x, on `rows` rows with bad[row, column] bad
  // (the step on the first max-batch rows, where the bad value is among them).
  void expect_every_call_refuses(const std::vector<float>& bad, int64_t rows, int64_t row,
                                 int64_t column) {
    std::vector<float> out(static_cast<size_t>(rows * kDim));
    if (row < kBatch) {
      expect_refused([&] { t_->train_step(bad.data(), kBatch, nullptr); }, "x", row, column);
    }
    expect_refused([&] { t_->evaluate(bad.data(), rows, out.data(), out.data(), nullptr); }, "x",
                   row, column);
    for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
      expect_refused([&] { t_->log_likelihood(bad.data(), rows, 4, estimator, out.data()); }, "x",
                     row, column);
    }
    expect_refused([&] { t_->encode(bad.data(), rows, out.data(), nullptr); }, "x", row, column);
    expect_refused([&] { t_->create_dataset(bad.data(), rows); }, "x", row, column);
  }

  std::unique_ptr<Trainer> t_;
  const std::vector<float> x_ = testing::binary(kBatch * kDim, 8);
};

TEST_P(InputChecks, NonFiniteValuesAreRefusedByEveryCall) {
  // 17 rows: the later values lie in the third chunk of max-batch rows.
  const int64_t rows = 17;
  const auto good = testing::binary(static_cast<size_t>(rows * kDim), 9);
  for (float value : {kNan, kInf, -kInf}) {
    for (int64_t element : {int64_t{0}, int64_t{17}, int64_t{5 * kDim - 1}, rows * kDim - 1}) {
      auto bad = good;
      bad[static_cast<size_t>(element)] = value;
      expect_every_call_refuses(bad, rows, element / kDim, element % kDim);
    }
  }
}

TEST_P(InputChecks, BernoulliDataOutsideTheUnitIntervalIsRefused) {
  const int64_t rows = 14;
  const auto good = testing::binary(static_cast<size_t>(rows * kDim), 10);
  for (float value : {-0.001f, 1.001f, -FLT_TRUE_MIN, 255.0f}) {
    auto outside = good;
    const int64_t element = 13 * kDim + 4;
    outside[static_cast<size_t>(element)] = value;
    if (bernoulli()) {
      expect_every_call_refuses(outside, rows, 13, 4);
    } else {
      // The Gaussian likelihood takes any finite value.
      std::vector<float> out(static_cast<size_t>(rows * kDim));
      t_->evaluate(outside.data(), rows, out.data(), nullptr, nullptr);
      t_->encode(outside.data(), rows, out.data(), nullptr);
      t_->train_step(outside.data() + 8 * kDim, kBatch, nullptr);
      EXPECT_NE(t_->create_dataset(outside.data(), rows), nullptr);
    }
  }
  // The ends of the interval are data.
  auto ends = good;
  ends[0] = 0.0f;
  ends[1] = 1.0f;
  ends[2] = -0.0f;
  const int64_t steps = t_->counters().steps;
  t_->train_step(ends.data(), kBatch, nullptr);
  EXPECT_EQ(t_->counters().steps, steps + 1);
}

TEST_P(InputChecks, DecodeRefusesLatentsThatAreNotFinite) {
  const int64_t rows = 40;  // more than max_batch * samples: several chunks
  const auto good = testing::normal(static_cast<size_t>(rows * kLatent), 11);
  std::vector<float> mean(static_cast<size_t>(rows * kDim));
  for (float value : {kNan, kInf, -kInf}) {
    for (int64_t element : {int64_t{1}, int64_t{33 * kLatent + 2}}) {
      auto bad = good;
      bad[static_cast<size_t>(element)] = value;
      expect_refused([&] { t_->decode(bad.data(), rows, mean.data()); }, "z", element / kLatent,
                     element % kLatent);
    }
  }
  // Any finite latent decodes, however far out.
  auto far = good;
  far[5] = 1e30f;
  t_->decode(far.data(), rows, mean.data());
}

TEST_P(InputChecks, LargeDatasetsAreCheckedInParallelParts) {
  // Enough values for the copy to run in parts on both threads.
  const int64_t rows = 3000;
  const auto good = testing::binary(static_cast<size_t>(rows * kDim), 14);
  for (int64_t row : {int64_t{3}, int64_t{2990}}) {
    auto bad = good;
    bad[static_cast<size_t>(row * kDim + 7)] = kNan;
    expect_refused([&] { t_->create_dataset(bad.data(), rows); }, "x", row, 7);
  }
  EXPECT_EQ(t_->create_dataset(good.data(), rows)->rows, rows);
}

TEST_P(InputChecks, DatasetsOfCheckedRowsTrainAndEvaluate) {
  const int64_t rows = 20;
  const auto x = testing::binary(static_cast<size_t>(rows * kDim), 12);
  auto ds = t_->create_dataset(x.data(), rows);
  float loss = 0;
  t_->train_epoch(*ds, kBatch, &loss);
  EXPECT_TRUE(std::isfinite(loss));
  double elbo = 0;
  t_->evaluate_dataset(*ds, &elbo, nullptr, nullptr);
  EXPECT_TRUE(std::isfinite(elbo));
}

INSTANTIATE_TEST_SUITE_P(Likelihoods, InputChecks,
                         ::testing::Values(VAE_LIKELIHOOD_BERNOULLI, VAE_LIKELIHOOD_GAUSSIAN),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == VAE_LIKELIHOOD_BERNOULLI ? "Bernoulli" : "Gaussian";
                         });

// Issue 10 defect 9, through the C API: evaluation and the likelihoods
// returned OK with NaN results for a NaN in x.
TEST(InputChecksApi, RefusedCallsReturnInvalidArgument) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, kLatent), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, kBatch), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  auto x = testing::binary(9 * kDim, 13);
  x[7 * kDim + 2] = kNan;
  std::vector<float> out(9 * kDim);
  EXPECT_EQ(vae_evaluate(t, x.data(), 9, out.data(), nullptr, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(vae_last_error(), "x: row 7, column 2 is nan; data must be finite");
  EXPECT_EQ(vae_log_likelihood(t, x.data(), 9, 3, VAE_ESTIMATOR_IMPORTANCE, out.data()),
            VAE_ERROR_INVALID_ARGUMENT);
  x[7 * kDim + 2] = 2.0f;
  EXPECT_EQ(vae_log_likelihood(t, x.data(), 9, 3, VAE_ESTIMATOR_PRIOR, out.data()),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(vae_last_error(),
               "x: row 7, column 2 is 2; the Bernoulli likelihood takes data in [0, 1]");
  vae_dataset* ds = nullptr;
  EXPECT_EQ(vae_dataset_create(t, x.data(), 9, &ds), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ds, nullptr);
  int64_t steps = -1;
  ASSERT_EQ(vae_get_int(t, VAE_OPT_STEPS, &steps), VAE_OK);
  EXPECT_EQ(steps, 0);
  vae_destroy(t);
  vae_config_destroy(c);
}

}  // namespace
}  // namespace vae
