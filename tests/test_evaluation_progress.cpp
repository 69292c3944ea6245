// The evaluation calls through the C API: VAE_OPT_EVAL_ROWS as an option
// (range, config and live trainer); the progress reports of
// vae_log_likelihood_dataset and vae_evaluate_dataset (rows done, the
// call's rows, the running mean; at most 65 calls; the last one's mean is
// the result); and what the callback may not do while the call runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "test_support.h"
#include "vae/vae.h"

namespace {

constexpr int64_t kDim = 12;

class EvaluationApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LATENT_DIM, 3), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_SAMPLES, 2), VAE_OK);
    const int32_t widths[] = {10};
    ASSERT_EQ(vae_config_set_hidden_layers(config_, widths, 1), VAE_OK);
    ASSERT_EQ(vae_create(config_, &t_), VAE_OK);
  }
  void TearDown() override {
    vae_dataset_destroy(ds_);
    vae_destroy(t_);
    vae_config_destroy(config_);
  }

  void make_dataset(int64_t rows) {
    x_ = vae::testing::binary(static_cast<size_t>(rows * kDim), 7);
    ASSERT_EQ(vae_dataset_create(t_, x_.data(), rows, &ds_), VAE_OK);
  }

  vae_config* config_ = nullptr;
  vae_trainer* t_ = nullptr;
  vae_dataset* ds_ = nullptr;
  std::vector<float> x_;
};

TEST_F(EvaluationApi, EvalRowsIsAnOptionThatMayChange) {
  int64_t value = -1;
  ASSERT_EQ(vae_get_int(t_, VAE_OPT_EVAL_ROWS, &value), VAE_OK);
  EXPECT_EQ(value, 0);
  EXPECT_EQ(vae_set_int(t_, VAE_OPT_EVAL_ROWS, 1000), VAE_OK) << vae_last_error();
  ASSERT_EQ(vae_get_int(t_, VAE_OPT_EVAL_ROWS, &value), VAE_OK);
  EXPECT_EQ(value, 1000);
  for (int64_t bad : {int64_t{-1}, int64_t{(1 << 24) + 1}}) {
    EXPECT_EQ(vae_set_int(t_, VAE_OPT_EVAL_ROWS, bad), VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::strstr(vae_last_error(), "VAE_OPT_EVAL_ROWS"), nullptr) << vae_last_error();
    EXPECT_EQ(vae_config_set_int(config_, VAE_OPT_EVAL_ROWS, bad), VAE_ERROR_INVALID_ARGUMENT);
  }
  ASSERT_EQ(vae_get_int(t_, VAE_OPT_EVAL_ROWS, &value), VAE_OK);
  EXPECT_EQ(value, 1000);
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_EVAL_ROWS, 300), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(config_, &t), VAE_OK);
  ASSERT_EQ(vae_get_int(t, VAE_OPT_EVAL_ROWS, &value), VAE_OK);
  EXPECT_EQ(value, 300);
  vae_destroy(t);
}

struct Report {
  int64_t done;
  int64_t total;
  double mean;
};

void record(void* user, int64_t done, int64_t total, double mean) {
  static_cast<std::vector<Report>*>(user)->push_back({done, total, mean});
}

TEST_F(EvaluationApi, DatasetCallsReportProgressAtMost65Times) {
  const int64_t rows = 4000;
  make_dataset(rows);
  // 1024 decoder rows a chunk (whole tiles): 4000 x 2 samples make 8
  // chunks for the ELBO, 4000 x 30 make 118 for the estimate.
  ASSERT_EQ(vae_set_int(t_, VAE_OPT_EVAL_ROWS, 1024), VAE_OK);
  std::vector<Report> reports;
  ASSERT_EQ(vae_set_progress(t_, record, &reports), VAE_OK);
  double mean = 0;
  ASSERT_EQ(vae_log_likelihood_dataset(t_, ds_, 30, VAE_ESTIMATOR_IMPORTANCE, &mean), VAE_OK);
  ASSERT_FALSE(reports.empty());
  EXPECT_LE(reports.size(), 65u);
  EXPECT_GE(reports.size(), 60u);
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].total, rows);
    if (i > 0) {
      EXPECT_GE(reports[i].done, reports[i - 1].done);
    }
  }
  EXPECT_EQ(reports.back().done, rows);
  EXPECT_DOUBLE_EQ(reports.back().mean, mean);
  // The running mean is the mean of the rows done: near the whole mean
  // half way through.
  const Report& half = reports[reports.size() / 2];
  EXPECT_GT(half.done, rows / 3);
  EXPECT_NEAR(half.mean, mean, 0.05 * std::fabs(mean));

  reports.clear();
  double elbo = 0;
  ASSERT_EQ(vae_evaluate_dataset(t_, ds_, &elbo, nullptr, nullptr), VAE_OK);
  EXPECT_EQ(reports.size(), 8u);  // every chunk, when there are at most 64
  EXPECT_EQ(reports.back().done, rows);
  EXPECT_DOUBLE_EQ(reports.back().mean, elbo);
}

struct Reentry {
  vae_trainer* t;
  vae_dataset* ds;
  const float* x;
  std::vector<vae_status> statuses;
  bool reads = true;
};

void reenter(void* user, int64_t, int64_t, double) {
  auto* r = static_cast<Reentry*>(user);
  float out[2];
  double mean = 0;
  r->statuses.push_back(vae_log_likelihood(r->t, r->x, 2, 3, VAE_ESTIMATOR_PRIOR, out));
  r->statuses.push_back(vae_evaluate_dataset(r->t, r->ds, &mean, nullptr, nullptr));
  r->statuses.push_back(vae_set_int(r->t, VAE_OPT_EVAL_ROWS, 512));
  r->statuses.push_back(vae_train_step(r->t, r->x, 2, nullptr));
  r->statuses.push_back(vae_sample(r->t, 1, out));
  // Reading is fine.
  int64_t value = 0;
  r->reads = r->reads && vae_get_int(r->t, VAE_OPT_EVAL_ROWS, &value) == VAE_OK;
}

TEST_F(EvaluationApi, TheCallbackMayNotChangeTheTrainerWhileTheCallRuns) {
  make_dataset(40);
  const int64_t params = [&] {
    int64_t count = 0;
    EXPECT_EQ(vae_parameter_count(t_, &count), VAE_OK);
    return count;
  }();
  std::vector<float> before(static_cast<size_t>(params)), after(before.size());
  ASSERT_EQ(vae_get_parameters(t_, before.data(), params), VAE_OK);
  Reentry r{t_, ds_, x_.data(), {}, true};
  ASSERT_EQ(vae_set_progress(t_, reenter, &r), VAE_OK);
  double mean = 0;
  ASSERT_EQ(vae_log_likelihood_dataset(t_, ds_, 5, VAE_ESTIMATOR_IMPORTANCE, &mean), VAE_OK);
  ASSERT_FALSE(r.statuses.empty());
  for (vae_status s : r.statuses) EXPECT_EQ(s, VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(r.reads);
  ASSERT_EQ(vae_get_parameters(t_, after.data(), params), VAE_OK);
  EXPECT_EQ(after, before);
  // After the call, everything is allowed again.
  ASSERT_EQ(vae_set_progress(t_, nullptr, nullptr), VAE_OK);
  float out[2];
  EXPECT_EQ(vae_log_likelihood(t_, x_.data(), 2, 3, VAE_ESTIMATOR_PRIOR, out), VAE_OK);
  EXPECT_EQ(vae_set_int(t_, VAE_OPT_EVAL_ROWS, 512), VAE_OK);
}

}  // namespace
