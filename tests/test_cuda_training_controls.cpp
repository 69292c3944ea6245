// Learning-rate schedules and gradient clipping on the CUDA backend: the
// checks of training_controls.h, which the CPU suite runs too (the rate of
// every step computed on the device, in captured graphs; clipped steps
// against the double reference of clip_grad_norm_ then Adam; resuming), and
// the two backends' norms and steps side by side. Every test skips itself
// where there is no CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cuda_test_support.h"
#include "training_controls.h"

namespace vae {
namespace {

std::unique_ptr<Trainer> make_cuda(const Config& c) { return testing::make_cuda_trainer_impl(c); }

class CudaTrainingControls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  }
  const testing::TestDirectory scratch_{"vae_cuda_controls"};
  const std::string dir_ = scratch_.path().string();
};

TEST_F(CudaTrainingControls, EachScheduleTakesItsFormulasRateInCapturedSteps) {
  for (int schedule : {VAE_SCHEDULE_CONSTANT, VAE_SCHEDULE_LINEAR, VAE_SCHEDULE_COSINE}) {
    SCOPED_TRACE("schedule " + std::to_string(schedule));
    testing::check_schedule(make_cuda, VAE_BACKEND_CUDA, schedule, dir_);
  }
}

TEST_F(CudaTrainingControls, ClippedStepsMatchClipGradNormThenAdam) {
  testing::check_clipping(make_cuda, VAE_BACKEND_CUDA, 2e-6);
}

TEST_F(CudaTrainingControls, ScheduleAndClippingResumeExactly) {
  testing::check_resume(make_cuda, VAE_BACKEND_CUDA, dir_);
}

// Epochs with a schedule and clipping (captured and replayed), with a
// gradient wider than the finite check's grid, on both backends from the
// same parameters: the parameters and the last norm agree within the
// GEMMs' rounding, and a live change of the limit reaches the replayed
// step.
TEST_F(CudaTrainingControls, EpochsAgreeWithTheCpuBackend) {
  Config c = testing::controls_config();
  c.input_dim = 3000;
  c.hidden = {40};
  c.max_batch = 16;
  c.lr_schedule = VAE_SCHEDULE_LINEAR;
  c.warmup_steps = 2;
  c.decay_steps = 4;
  c.final_learning_rate = 0.001;
  c.clip_norm = 1.0;
  auto cuda = testing::make_cuda_trainer_impl(c);
  auto cpu = testing::make_cpu_trainer_impl(c);
  const std::vector<float> start = testing::parameters_of(*cpu);
  cuda->set_parameters(start.data(), static_cast<int64_t>(start.size()));
  const int64_t rows = 64;
  const auto x = testing::binary(static_cast<size_t>(rows * c.input_dim), 53);
  auto cuda_set = cuda->create_dataset(x.data(), rows);
  auto cpu_set = cpu->create_dataset(x.data(), rows);
  for (int epoch = 0; epoch < 3; ++epoch) {
    if (epoch == 2) {
      cuda->set_float(VAE_OPT_CLIP_NORM, 0.25);
      cpu->set_float(VAE_OPT_CLIP_NORM, 0.25);
    }
    float cuda_loss = 0, cpu_loss = 0;
    cuda->train_epoch(*cuda_set, 16, &cuda_loss);
    cpu->train_epoch(*cpu_set, 16, &cpu_loss);
    EXPECT_NEAR(cuda_loss, cpu_loss, 1e-4 * std::fabs(cpu_loss)) << "epoch " << epoch;
  }
  EXPECT_EQ(cuda->get_float(VAE_OPT_NEXT_LEARNING_RATE), 0.001);
  const double norm = cpu->get_float(VAE_OPT_GRAD_NORM);
  EXPECT_GT(norm, 0.25);  // the last steps were clipped
  EXPECT_NEAR(cuda->get_float(VAE_OPT_GRAD_NORM), norm, 1e-4 * norm);
  EXPECT_TRUE(testing::close(testing::parameters_of(*cuda), testing::parameters_of(*cpu), 1e-4));
}

}  // namespace
}  // namespace vae
