// A step whose loss or gradient is not finite is skipped where it runs: it
// changes no parameter, moment or step counter, VAE_OPT_SKIPPED_STEPS counts
// it, and the next call that waits (a step given a loss pointer, an epoch)
// reports it (vae.h). The CPU backend follows the same rules as the GPU, on
// the same StepState code, so these tests check the GPU's semantics too.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::CpuTrainerF;

// A Gaussian model: any finite data are valid input, and rows of 1e30
// overflow the squared error, so the loss of a step on them is infinite.
Config gaussian_config() {
  Config c = testing::small_config();
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  return c;
}

std::vector<float> state(const Trainer& t, StateBuffer which) { return t.read_state(which); }

struct Snapshot {
  explicit Snapshot(const Trainer& t)
      : params(state(t, StateBuffer::kParameters)),
        m(state(t, StateBuffer::kAdamFirstMoment)),
        v(state(t, StateBuffer::kAdamSecondMoment)) {}
  bool operator==(const Snapshot& o) const { return params == o.params && m == o.m && v == o.v; }
  std::vector<float> params, m, v;
};

std::vector<float> overflowing(size_t count) { return std::vector<float>(count, 1e30f); }

TEST(StepSkipping, AStepWithoutALossPointerIsSkippedNowAndReportedByTheNextWaitingCall) {
  const Config c = gaussian_config();
  auto t = testing::make_trainer<CpuTrainerF>(c);
  auto twin = testing::make_trainer<CpuTrainerF>(c);
  const auto good = testing::normal(6 * 12, 3);
  const auto bad = overflowing(6 * 12);
  t->train_step(good.data(), 6, nullptr);
  twin->train_step(good.data(), 6, nullptr);
  const Snapshot before(*t);

  t->train_step(bad.data(), 6, nullptr);  // queued: no answer, no error
  EXPECT_TRUE(Snapshot(*t) == before);
  EXPECT_EQ(t->counters().steps, 1);
  EXPECT_EQ(t->counters().skipped_steps, 1);

  // The next step given a loss pointer is taken, and reports the earlier one.
  float loss = -1.0f;
  try {
    t->train_step(good.data(), 6, &loss);
    FAIL() << "the skipped step was not reported";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_NUMERICAL);
    EXPECT_NE(std::string(e.what()).find("earlier"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(loss, -1.0f);
  EXPECT_EQ(t->counters().steps, 2);
  // Reported once: the next waiting step is clean.
  t->train_step(good.data(), 6, &loss);
  EXPECT_TRUE(std::isfinite(loss));

  // The skipped step drew no noise and moved no counter: the twin that never
  // saw it is in the same state.
  twin->train_step(good.data(), 6, nullptr);
  twin->train_step(good.data(), 6, nullptr);
  EXPECT_TRUE(Snapshot(*t) == Snapshot(*twin));
  EXPECT_EQ(t->counters().steps, twin->counters().steps);
  EXPECT_EQ(t->counters().skipped_steps, 1);
}

// A hook of one rank (world size 1) that sets the first gradient element
// to `value`, as a faulty link or a wild gradient would.
struct SetsFirstGradient {
  float value;
  static int hook(void* self, float* buffer, int64_t, int, void*, char*, size_t) {
    buffer[0] = static_cast<SetsFirstGradient*>(self)->value;
    return VAE_OK;
  }
};

// A finite gradient element too large for Adam (its square would overflow
// the second moment, which a checkpoint could then not hold) skips the step
// as a non-finite one does; 2^62 itself is taken. Found by fuzz_api_calls:
// a gradient of 1e30 made exp_avg_sq infinite, and the checkpoint vae_save
// wrote then failed vae_load.
TEST(StepSkipping, AGradientBeyondTwoToThe62IsSkippedAndTheStateStaysFinite) {
  const Config c = testing::small_config();
  const auto x = testing::binary(6 * 12, 9);
  for (const float value : {1e30f, 3.4e38f, 4.7e18f}) {
    auto t = testing::make_trainer<CpuTrainerF>(c);
    SetsFirstGradient hook{value};
    t->set_allreduce(&SetsFirstGradient::hook, &hook);
    const Snapshot before(*t);
    float loss = 0.0f;
    try {
      t->train_step(x.data(), 6, &loss);
      ADD_FAILURE() << "a step with a gradient element of " << value << " was taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), VAE_ERROR_NUMERICAL) << e.what();
    }
    EXPECT_TRUE(Snapshot(*t) == before) << value;
    EXPECT_EQ(t->counters().skipped_steps, 1) << value;
  }
  auto t = testing::make_trainer<CpuTrainerF>(c);
  SetsFirstGradient hook{4611686018427387904.0f};  // 2^62: taken
  t->set_allreduce(&SetsFirstGradient::hook, &hook);
  t->train_step(x.data(), 6, nullptr);
  EXPECT_EQ(t->counters().steps, 1);
  for (const StateBuffer which : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                                  StateBuffer::kAdamSecondMoment}) {
    for (const float v : state(*t, which)) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(StepSkipping, AStepWithALossPointerReportsItself) {
  auto t = testing::make_trainer<CpuTrainerF>(gaussian_config());
  const auto bad = overflowing(6 * 12);
  const Snapshot before(*t);
  float loss = -1.0f;
  try {
    t->train_step(bad.data(), 6, &loss);
    FAIL() << "a step with an infinite loss was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_NUMERICAL);
    EXPECT_NE(std::string(e.what()).find("this step"), std::string::npos) << e.what();
  }
  EXPECT_EQ(loss, -1.0f);
  EXPECT_TRUE(Snapshot(*t) == before);
  EXPECT_EQ(t->counters().steps, 0);
  EXPECT_EQ(t->counters().encoder_steps, 0);
  EXPECT_EQ(t->counters().decoder_steps, 0);
  EXPECT_EQ(t->counters().skipped_steps, 1);
}

TEST(StepSkipping, AnEpochCompletesPastASkippedStepAndReportsIt) {
  const Config c = gaussian_config();
  auto t = testing::make_trainer<CpuTrainerF>(c);
  auto x = testing::normal(23 * 12, 5);
  for (int d = 0; d < 12; ++d) x[static_cast<size_t>(11 * 12 + d)] = 1e30f;  // row 11
  auto ds = t->create_dataset(x.data(), 23);
  float mean = -1.0f;
  try {
    t->train_epoch(*ds, 5, &mean);
    FAIL() << "the epoch did not report its skipped step";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_NUMERICAL);
    EXPECT_NE(std::string(e.what()).find("epoch 0"), std::string::npos) << e.what();
  }
  const Counters k = t->counters();
  EXPECT_EQ(k.epochs, 1);
  EXPECT_EQ(k.skipped_steps, 1);
  EXPECT_EQ(k.steps, 4);  // 5 batches, the one holding row 11 skipped
  EXPECT_TRUE(std::isfinite(mean));
  // The next epoch meets row 11 again, in another batch: one more skip.
  EXPECT_THROW(t->train_epoch(*ds, 5, &mean), Error);
  EXPECT_EQ(t->counters().skipped_steps, 2);
  EXPECT_EQ(t->counters().steps, 8);
}

// The progress callback may not train the trainer whose epoch is running
// (its steps would move the epoch's position): both calls are refused, and
// the epoch is the same as one without the attempts.
TEST(StepSkipping, TheProgressCallbackCannotTrainItsOwnTrainer) {
  const Config c = gaussian_config();
  auto t = testing::make_trainer<CpuTrainerF>(c);
  auto twin = testing::make_trainer<CpuTrainerF>(c);
  const auto x = testing::normal(10 * 12, 7);
  auto ds = t->create_dataset(x.data(), 10);
  auto twin_ds = twin->create_dataset(x.data(), 10);
  struct Attempt {
    Trainer* t;
    Dataset* ds;
    const float* x;
    std::vector<vae_status> statuses;
  } attempt{t.get(), ds.get(), x.data(), {}};
  t->set_progress(
      [](void* user, int64_t, int64_t, double) {
        auto* a = static_cast<Attempt*>(user);
        for (int call = 0; call < 2; ++call) {
          try {
            if (call == 0) {
              a->t->train_step(a->x, 5, nullptr);
            } else {
              a->t->train_epoch(*a->ds, 5, nullptr);
            }
            a->statuses.push_back(VAE_OK);
          } catch (const Error& e) {
            a->statuses.push_back(e.status());
            EXPECT_NE(std::string(e.what()).find("progress callback"), std::string::npos);
          }
        }
      },
      &attempt);
  float loss = 0, twin_loss = 0;
  t->train_epoch(*ds, 5, &loss);
  twin->train_epoch(*twin_ds, 5, &twin_loss);
  EXPECT_EQ(attempt.statuses, std::vector<vae_status>(4, VAE_ERROR_INVALID_ARGUMENT));
  EXPECT_EQ(loss, twin_loss);
  EXPECT_TRUE(Snapshot(*t) == Snapshot(*twin));
  EXPECT_EQ(t->counters().steps, 2);
  // After the epoch, training works again.
  t->set_progress(nullptr, nullptr);
  t->train_step(x.data(), 5, &loss);
  EXPECT_EQ(t->counters().steps, 3);
}

TEST(StepSkipping, TheCountersAreReadOnlyThroughTheApi) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, 12), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_LIKELIHOOD, VAE_LIKELIHOOD_GAUSSIAN), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  const auto bad = overflowing(4 * 12);
  EXPECT_EQ(vae_train_step(t, bad.data(), 4, nullptr), VAE_OK);
  int64_t skipped = -1;
  EXPECT_EQ(vae_get_int(t, VAE_OPT_SKIPPED_STEPS, &skipped), VAE_OK);
  EXPECT_EQ(skipped, 1);
  double as_float = -1;
  EXPECT_EQ(vae_get_float(t, VAE_OPT_SKIPPED_STEPS, &as_float), VAE_OK);
  EXPECT_EQ(as_float, 1.0);
  EXPECT_EQ(vae_set_int(t, VAE_OPT_SKIPPED_STEPS, 0), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(vae_last_error(), "read-only"), nullptr);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_SKIPPED_STEPS, 0), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_set_cuda_stream(t, nullptr), VAE_ERROR_UNSUPPORTED);
  EXPECT_NE(std::strstr(vae_last_error(), "CPU"), nullptr);
  vae_destroy(t);
  vae_config_destroy(c);
}

}  // namespace
}  // namespace vae
