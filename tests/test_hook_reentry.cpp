// Calls on a trainer from inside its own allreduce hook or progress
// callback (vae.h, vae_set_allreduce and vae_set_progress): while the
// trainer's step runs, every call on it but vae_interrupt and the option
// reads is refused with VAE_ERROR_INVALID_ARGUMENT and changes nothing, and
// vae_destroy and vae_dataset_destroy do nothing; the step itself then
// completes exactly as it would have without the call.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "test_support.h"
#include "vae/vae.h"

namespace {

constexpr int64_t kDim = 12;
constexpr int64_t kRows = 4;

vae_trainer* make_trainer() {
  vae_config* c = nullptr;
  vae_trainer* t = nullptr;
  EXPECT_EQ(vae_config_create(&c), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, 3), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, kRows), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  const int32_t widths[] = {7};
  EXPECT_EQ(vae_config_set_hidden_layers(c, widths, 1), VAE_OK);
  EXPECT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(c);
  return t;
}

std::vector<float> parameters(const vae_trainer* t) {
  int64_t count = 0;
  EXPECT_EQ(vae_parameter_count(t, &count), VAE_OK);
  std::vector<float> p(static_cast<size_t>(count));
  EXPECT_EQ(vae_get_parameters(t, p.data(), count), VAE_OK);
  return p;
}

// A hook of one rank (the sum is the buffer itself) that first runs `inside`
// and keeps its status and message.
struct Reentry {
  std::function<vae_status()> inside;
  int calls = 0;
  vae_status status = VAE_OK;
  std::string message;

  static int hook(void* self, float*, int64_t, int, void*, char*, size_t) {
    auto* r = static_cast<Reentry*>(self);
    if (r->calls++ == 0 && r->inside) {
      r->status = r->inside();
      r->message = vae_last_error();
    }
    return VAE_OK;
  }
};

bool mentions(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

class HookReentry : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = make_trainer();
    twin_ = make_trainer();
    ASSERT_EQ(vae_set_allreduce(t_, &Reentry::hook, &reentry_), VAE_OK);
    ASSERT_EQ(vae_set_allreduce(twin_, &Reentry::hook, &plain_), VAE_OK);
  }
  void TearDown() override {
    vae_dataset_destroy(ds_);
    vae_destroy(t_);
    vae_destroy(twin_);
  }

  // One step on t_ with `inside` run in its hook, and the same step on a twin
  // whose hook does nothing more: the call inside must be refused and the
  // two trainers stay alike.
  void step_with(std::function<vae_status()> inside, const char* call) {
    reentry_.inside = std::move(inside);
    float loss = 0, twin_loss = 0;
    ASSERT_EQ(vae_train_step(t_, x_.data(), kRows, &loss), VAE_OK) << call << ": "
                                                                   << vae_last_error();
    ASSERT_EQ(vae_train_step(twin_, x_.data(), kRows, &twin_loss), VAE_OK);
    EXPECT_EQ(reentry_.status, VAE_ERROR_INVALID_ARGUMENT) << call;
    EXPECT_TRUE(mentions(reentry_.message, call)) << reentry_.message;
    EXPECT_TRUE(mentions(reentry_.message, "allreduce hook")) << reentry_.message;
    EXPECT_EQ(loss, twin_loss) << call;
    EXPECT_EQ(parameters(t_), parameters(twin_)) << call;
    int64_t steps = 0, twin_steps = 0;
    ASSERT_EQ(vae_get_int(t_, VAE_OPT_STEPS, &steps), VAE_OK);
    ASSERT_EQ(vae_get_int(twin_, VAE_OPT_STEPS, &twin_steps), VAE_OK);
    EXPECT_EQ(steps, twin_steps) << call;
    reentry_ = Reentry{};
    plain_ = Reentry{};
  }

  vae_trainer* t_ = nullptr;
  vae_trainer* twin_ = nullptr;
  vae_dataset* ds_ = nullptr;
  Reentry reentry_, plain_;
  std::vector<float> x_ = vae::testing::binary(kRows * kDim, 3);
};

TEST_F(HookReentry, ATrainStepInsideTheHookIsRefusedAndTheStepIsExact) {
  const std::vector<float> other = vae::testing::binary(kRows * kDim, 4);
  float inner_loss = -1;
  step_with([&] { return vae_train_step(t_, other.data(), kRows, &inner_loss); },
            "vae_train_step");
  EXPECT_EQ(inner_loss, -1);
}

TEST_F(HookReentry, DestroyInsideTheHookDoesNothing) {
  step_with(
      [&] {
        vae_destroy(t_);
        // vae_destroy returns nothing: its refusal is in the message.
        return vae_last_error()[0] != '\0' ? VAE_ERROR_INVALID_ARGUMENT : VAE_OK;
      },
      "vae_destroy");
  // The trainer is alive and trains on.
  float loss = 0;
  EXPECT_EQ(vae_train_step(t_, x_.data(), kRows, &loss), VAE_OK) << vae_last_error();
}

TEST_F(HookReentry, EveryCallThatChangesOrReadsTheStateIsRefused) {
  std::vector<float> out(static_cast<size_t>(kRows * kDim));
  std::vector<float> p = parameters(t_);
  const std::string path = vae::testing::temp_path("hook_reentry.safetensors");
  step_with([&] { return vae_set_float(t_, VAE_OPT_LEARNING_RATE, 0.5); }, "vae_set_float");
  step_with([&] { return vae_set_int(t_, VAE_OPT_UPDATE, VAE_UPDATE_DECODER); }, "vae_set_int");
  step_with([&] { return vae_set_parameters(t_, p.data(), static_cast<int64_t>(p.size())); },
            "vae_set_parameters");
  step_with([&] { return vae_get_parameters(t_, p.data(), static_cast<int64_t>(p.size())); },
            "vae_get_parameters");
  step_with([&] { return vae_evaluate(t_, x_.data(), kRows, out.data(), nullptr, nullptr); },
            "vae_evaluate");
  step_with([&] { return vae_log_likelihood(t_, x_.data(), 1, 2, 1, out.data()); },
            "vae_log_likelihood");
  step_with([&] { return vae_encode(t_, x_.data(), 1, out.data(), nullptr); }, "vae_encode");
  step_with([&] { return vae_decode(t_, out.data(), 1, out.data()); }, "vae_decode");
  step_with([&] { return vae_sample(t_, 1, out.data()); }, "vae_sample");
  step_with([&] { return vae_save(t_, path.c_str()); }, "vae_save");
  step_with([&] { return vae_set_allreduce(t_, nullptr, nullptr); }, "vae_set_allreduce");
  step_with([&] { return vae_set_progress(t_, nullptr, nullptr); }, "vae_set_progress");
  step_with([&] { return vae_set_cuda_stream(t_, nullptr); }, "vae_set_cuda_stream");
  step_with([&] { return vae_dataset_create(t_, x_.data(), kRows, &ds_); }, "vae_dataset_create");
  EXPECT_EQ(ds_, nullptr);
  FILE* file = std::fopen(path.c_str(), "rb");
  EXPECT_EQ(file, nullptr) << "vae_save wrote " << path;
  if (file != nullptr) std::fclose(file);
}

TEST_F(HookReentry, OptionReadsAndInterruptWorkInsideTheHook) {
  int64_t rank = -1;
  double rate = -1;
  vae_status interrupted = VAE_ERROR_INTERNAL;
  reentry_.inside = [&] {
    interrupted = vae_interrupt(t_);
    if (vae_get_float(t_, VAE_OPT_LEARNING_RATE, &rate) != VAE_OK) return VAE_ERROR_INTERNAL;
    return vae_get_int(t_, VAE_OPT_RANK, &rank);
  };
  float loss = 0;
  ASSERT_EQ(vae_train_step(t_, x_.data(), kRows, &loss), VAE_OK) << vae_last_error();
  EXPECT_EQ(reentry_.status, VAE_OK) << reentry_.message;
  EXPECT_EQ(interrupted, VAE_OK);
  EXPECT_EQ(rank, 0);
  EXPECT_DOUBLE_EQ(rate, 1e-3);
}

// An epoch's steps call the hook too; there the epoch's dataset may not go.
TEST_F(HookReentry, TheEpochsDatasetSurvivesADestroyInsideTheHook) {
  ASSERT_EQ(vae_dataset_create(t_, x_.data(), kRows, &ds_), VAE_OK);
  reentry_.inside = [&] {
    vae_dataset_destroy(ds_);
    return vae_last_error()[0] != '\0' ? VAE_ERROR_INVALID_ARGUMENT : VAE_OK;
  };
  float loss = 0;
  ASSERT_EQ(vae_train_epoch(t_, ds_, 2, &loss), VAE_OK) << vae_last_error();
  EXPECT_EQ(reentry_.status, VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(mentions(reentry_.message, "vae_dataset_destroy")) << reentry_.message;
  int64_t rows = 0;
  EXPECT_EQ(vae_dataset_size(ds_, &rows), VAE_OK);
  EXPECT_EQ(rows, kRows);
}

// The progress callbacks of an epoch and of a dataset evaluation may not
// destroy the trainer or the dataset in use either.
struct Destroyer {
  vae_trainer* t = nullptr;
  vae_dataset* ds = nullptr;
  std::vector<std::string> messages;
  static void progress(void* self, int64_t, int64_t, double) {
    auto* d = static_cast<Destroyer*>(self);
    vae_destroy(d->t);
    d->messages.push_back(vae_last_error());
    vae_dataset_destroy(d->ds);
    d->messages.push_back(vae_last_error());
  }
};

TEST_F(HookReentry, ProgressCallbacksCannotDestroyTheTrainerOrItsDataset) {
  ASSERT_EQ(vae_dataset_create(t_, x_.data(), kRows, &ds_), VAE_OK);
  Destroyer d;
  d.t = t_;
  d.ds = ds_;
  ASSERT_EQ(vae_set_progress(t_, &Destroyer::progress, &d), VAE_OK);
  float loss = 0;
  ASSERT_EQ(vae_train_epoch(t_, ds_, 2, &loss), VAE_OK) << vae_last_error();
  double elbo = 0;
  ASSERT_EQ(vae_evaluate_dataset(t_, ds_, &elbo, nullptr, nullptr), VAE_OK) << vae_last_error();
  ASSERT_GE(d.messages.size(), 4u);
  for (const std::string& m : d.messages) {
    EXPECT_TRUE(mentions(m, "progress callback")) << m;
  }
  int64_t rows = 0;
  EXPECT_EQ(vae_dataset_size(ds_, &rows), VAE_OK);
  EXPECT_EQ(rows, kRows);
}

}  // namespace
