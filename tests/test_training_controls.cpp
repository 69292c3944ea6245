// Learning-rate schedules and gradient clipping by global norm on the CPU
// backend (vae.h: VAE_OPT_LR_SCHEDULE ... VAE_OPT_NEXT_LEARNING_RATE): the
// checks of training_controls.h, which the CUDA suite runs too, and the
// options' refusals through the C API.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "test_support.h"
#include "training_controls.h"
#include "vae/vae.h"

namespace vae {
namespace {

std::unique_ptr<Trainer> make_cpu(const Config& c) {
  return testing::make_trainer<testing::CpuTrainerF>(c);
}

class TrainingControls : public ::testing::Test {
 protected:
  const testing::TestDirectory scratch_{"vae_controls"};
  const std::string dir_ = scratch_.path().string();
};

TEST_F(TrainingControls, EachScheduleTakesItsFormulasRate) {
  for (int schedule : {VAE_SCHEDULE_CONSTANT, VAE_SCHEDULE_LINEAR, VAE_SCHEDULE_COSINE}) {
    SCOPED_TRACE("schedule " + std::to_string(schedule));
    testing::check_schedule(make_cpu, VAE_BACKEND_CPU, schedule, dir_);
  }
}

TEST_F(TrainingControls, ClippedStepsMatchClipGradNormThenAdam) {
  testing::check_clipping(make_cpu, VAE_BACKEND_CPU, 2e-6);
}

TEST_F(TrainingControls, ScheduleAndClippingResumeExactly) {
  testing::check_resume(make_cpu, VAE_BACKEND_CPU, dir_);
}

// A limit above the gradient's norm changes nothing, bit for bit, and the
// norm is the same on any number of threads (the tiles' sums in order).
TEST_F(TrainingControls, AnInactiveLimitAndTheThreadCountChangeNothing) {
  Config c = testing::controls_config();
  c.input_dim = 40000;  // a gradient of several norm tiles
  c.hidden = {4};
  const int64_t n = c.max_batch;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 47);
  std::vector<std::vector<float>> params;
  std::vector<double> norms;
  for (int variant = 0; variant < 3; ++variant) {
    Config v = c;
    v.threads = variant == 2 ? 2 : 1;
    v.clip_norm = variant == 1 ? 1e30 : 0.0;
    auto t = make_cpu(v);
    for (int s = 0; s < 3; ++s) t->train_step(x.data(), n, nullptr);
    params.push_back(testing::parameters_of(*t));
    norms.push_back(t->get_float(VAE_OPT_GRAD_NORM));
  }
  EXPECT_GT(norms[0], 0.0);
  for (int variant = 1; variant < 3; ++variant) {
    EXPECT_EQ(params[variant], params[0]) << "variant " << variant;
    EXPECT_EQ(norms[variant], norms[0]) << "variant " << variant;
  }
}

// Through the C API: every new option's range, the pair a decaying schedule
// needs, and the read-only values; a refusal says why and changes nothing.
class TrainingControlsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, 10), VAE_OK);
    ASSERT_EQ(vae_create(config_, &t_), VAE_OK);
  }
  void TearDown() override {
    vae_destroy(t_);
    vae_config_destroy(config_);
  }
  static void expect_message(const char* part) {
    EXPECT_NE(std::strstr(vae_last_error(), part), nullptr)
        << "'" << vae_last_error() << "' does not say '" << part << "'";
  }
  double read(int option) const {
    double value = std::nan("");
    EXPECT_EQ(vae_get_float(t_, option, &value), VAE_OK) << vae_last_error();
    return value;
  }

  vae_config* config_ = nullptr;
  vae_trainer* t_ = nullptr;
};

TEST_F(TrainingControlsApi, OutOfRangeValuesAreRefusedAndChangeNothing) {
  struct Bad {
    int option;
    double value;
    const char* name;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const Bad bad[] = {
      {VAE_OPT_LR_SCHEDULE, -1, "VAE_OPT_LR_SCHEDULE"},
      {VAE_OPT_LR_SCHEDULE, 3, "VAE_OPT_LR_SCHEDULE"},
      {VAE_OPT_LR_SCHEDULE, 1.5, "VAE_OPT_LR_SCHEDULE"},
      {VAE_OPT_WARMUP_STEPS, -1, "VAE_OPT_WARMUP_STEPS"},
      {VAE_OPT_WARMUP_STEPS, 72057594037927936.0, "VAE_OPT_WARMUP_STEPS"},
      {VAE_OPT_DECAY_STEPS, -5, "VAE_OPT_DECAY_STEPS"},
      {VAE_OPT_DECAY_STEPS, 1e300, "VAE_OPT_DECAY_STEPS"},
      {VAE_OPT_FINAL_LEARNING_RATE, -1e-9, "VAE_OPT_FINAL_LEARNING_RATE"},
      {VAE_OPT_FINAL_LEARNING_RATE, nan, "VAE_OPT_FINAL_LEARNING_RATE"},
      {VAE_OPT_FINAL_LEARNING_RATE, inf, "VAE_OPT_FINAL_LEARNING_RATE"},
      {VAE_OPT_CLIP_NORM, -0.5, "VAE_OPT_CLIP_NORM"},
      {VAE_OPT_CLIP_NORM, nan, "VAE_OPT_CLIP_NORM"},
      {VAE_OPT_CLIP_NORM, 1e31, "VAE_OPT_CLIP_NORM"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(std::string(b.name) + " = " + std::to_string(b.value));
    const double before = read(b.option);
    EXPECT_EQ(vae_set_float(t_, b.option, b.value), VAE_ERROR_INVALID_ARGUMENT);
    expect_message(b.name);
    EXPECT_EQ(vae_config_set_float(config_, b.option, b.value), VAE_ERROR_INVALID_ARGUMENT);
    expect_message(b.name);
    EXPECT_EQ(read(b.option), before);
  }
  EXPECT_EQ(vae_set_int(t_, VAE_OPT_WARMUP_STEPS, INT64_MAX), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("VAE_OPT_WARMUP_STEPS");
}

TEST_F(TrainingControlsApi, ADecayingScheduleNeedsDecaySteps) {
  const double rate = read(VAE_OPT_NEXT_LEARNING_RATE);
  EXPECT_EQ(rate, 1e-3);
  EXPECT_EQ(vae_set_int(t_, VAE_OPT_LR_SCHEDULE, VAE_SCHEDULE_COSINE), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("set VAE_OPT_DECAY_STEPS first");
  EXPECT_EQ(read(VAE_OPT_LR_SCHEDULE), VAE_SCHEDULE_CONSTANT);
  ASSERT_EQ(vae_set_int(t_, VAE_OPT_DECAY_STEPS, 100), VAE_OK);
  ASSERT_EQ(vae_set_int(t_, VAE_OPT_LR_SCHEDULE, VAE_SCHEDULE_LINEAR), VAE_OK);
  EXPECT_EQ(vae_set_int(t_, VAE_OPT_DECAY_STEPS, 0), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("VAE_OPT_DECAY_STEPS must be at least 1");
  EXPECT_EQ(read(VAE_OPT_DECAY_STEPS), 100);
  // A config is checked as a whole by vae_create, in any order of setting.
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LR_SCHEDULE, VAE_SCHEDULE_COSINE), VAE_OK);
  vae_trainer* t = nullptr;
  EXPECT_EQ(vae_create(config_, &t), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(t, nullptr);
  expect_message("VAE_OPT_DECAY_STEPS");
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_DECAY_STEPS, 10), VAE_OK);
  ASSERT_EQ(vae_create(config_, &t), VAE_OK) << vae_last_error();
  vae_destroy(t);
}

TEST_F(TrainingControlsApi, TheNormAndTheNextRateAreReadOnly) {
  EXPECT_EQ(read(VAE_OPT_GRAD_NORM), 0.0);
  for (int option : {VAE_OPT_GRAD_NORM, VAE_OPT_NEXT_LEARNING_RATE}) {
    EXPECT_EQ(vae_set_float(t_, option, 1.0), VAE_ERROR_INVALID_ARGUMENT);
    expect_message("read-only");
    EXPECT_EQ(vae_config_set_float(config_, option, 1.0), VAE_ERROR_INVALID_ARGUMENT);
    expect_message("read-only");
    int64_t value = 0;
    EXPECT_EQ(vae_get_int(t_, option, &value), VAE_ERROR_INVALID_ARGUMENT);
    expect_message("vae_get_float");
  }
  EXPECT_EQ(vae_set_int(t_, 1000, 1), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("unknown option");
}

// vae_get_int of a real option truncates it; a clip norm beyond int64 (the
// range goes to 1e30) is refused, where its conversion was undefined (found
// by fuzz_api_calls).
TEST_F(TrainingControlsApi, ARealOptionBeyondInt64IsNotReadAsAnInteger) {
  int64_t value = -1;
  ASSERT_EQ(vae_set_float(t_, VAE_OPT_CLIP_NORM, 2.5), VAE_OK);
  EXPECT_EQ(vae_get_int(t_, VAE_OPT_CLIP_NORM, &value), VAE_OK);
  EXPECT_EQ(value, 2);
  for (const double norm : {9223372036854775808.0, 1e30}) {
    ASSERT_EQ(vae_set_float(t_, VAE_OPT_CLIP_NORM, norm), VAE_OK);
    value = -1;
    EXPECT_EQ(vae_get_int(t_, VAE_OPT_CLIP_NORM, &value), VAE_ERROR_INVALID_ARGUMENT);
    expect_message("read it with vae_get_float");
    EXPECT_EQ(value, -1);
    EXPECT_EQ(read(VAE_OPT_CLIP_NORM), norm);
  }
  ASSERT_EQ(vae_set_float(t_, VAE_OPT_CLIP_NORM, 9223372036854774784.0), VAE_OK);  // below 2^63
  EXPECT_EQ(vae_get_int(t_, VAE_OPT_CLIP_NORM, &value), VAE_OK);
  EXPECT_EQ(value, INT64_C(9223372036854774784));
}

// A warm-up's rates as steps are taken, read through the C API; a skipped
// step does not advance the schedule.
TEST_F(TrainingControlsApi, TheNextRateFollowsTheStepsTaken) {
  ASSERT_EQ(vae_set_int(t_, VAE_OPT_WARMUP_STEPS, 4), VAE_OK);
  ASSERT_EQ(vae_set_float(t_, VAE_OPT_LEARNING_RATE, 0.01), VAE_OK);
  const auto x = testing::binary(10 * 4, 49);
  for (int64_t t = 0; t < 6; ++t) {
    EXPECT_DOUBLE_EQ(read(VAE_OPT_NEXT_LEARNING_RATE), t < 4 ? 0.01 * (t + 1) / 4 : 0.01);
    ASSERT_EQ(vae_train_step(t_, x.data(), 4, nullptr), VAE_OK);
    EXPECT_GT(read(VAE_OPT_GRAD_NORM), 0.0);
  }
  std::vector<float> nan_rows = x;
  nan_rows[3] = std::nanf("");
  const double before = read(VAE_OPT_NEXT_LEARNING_RATE);
  EXPECT_NE(vae_train_step(t_, nan_rows.data(), 4, nullptr), VAE_OK);
  EXPECT_EQ(read(VAE_OPT_NEXT_LEARNING_RATE), before);
}

}  // namespace
}  // namespace vae
