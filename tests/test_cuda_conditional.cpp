// The conditional VAE (VAE_OPT_CONDITION_DIM) on the CUDA backend against the
// CPU backend, with the same parameters, conditions and noise: steps (given
// noise, and drawn in captured graphs), the gradient, every evaluation call,
// vae_refine_posterior, epochs over datasets with labels or float
// conditions, and conditions in device memory (a bad one refused by row and
// column). Every test skips itself where there is no CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "conditional_support.h"
#include "cuda_test_support.h"
#include "error.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::kClasses;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;

class CudaConditional : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaConditional, StepsAndGradientMatchCpu) {
  Config c = testing::conditional_config();
  c.objective = GetParam();
  c.samples = 3;
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  ASSERT_EQ(gpu->read_state(StateBuffer::kParameters), cpu->read_state(StateBuffer::kParameters));
  const int64_t n = 6;
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 30);
  const auto condition = testing::uniform(static_cast<size_t>(n * kClasses), 31, -1.0f, 1.0f);
  for (uint32_t step = 0; step < 3; ++step) {
    const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 40 + step);
    float loss_cpu = 0, loss_gpu = 0;
    cpu->train_step_with_noise(x.data(), n, eps.data(), &loss_cpu, condition.data());
    gpu->train_step_with_noise(x.data(), n, eps.data(), &loss_gpu, condition.data());
    EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * std::max(1.0f, std::fabs(loss_cpu))) << "step " << step;
  }
  // Steps that draw their noise: the GPU's from a captured graph after the first.
  for (int step = 0; step < 3; ++step) {
    float loss_cpu = 0, loss_gpu = 0;
    cpu->train_step(x.data(), n, &loss_cpu, condition.data());
    gpu->train_step(x.data(), n, &loss_gpu, condition.data());
    EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * std::max(1.0f, std::fabs(loss_cpu))) << "step " << step;
  }
  testing::expect_states_match(*cpu, *gpu);
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 50);
  testing::expect_gradients_match(*cpu, *gpu, x, n, eps, condition.data());
}

INSTANTIATE_TEST_SUITE_P(Objectives, CudaConditional,
                         ::testing::Values(VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return param_info.param == VAE_OBJECTIVE_IWAE ? "Iwae" : "Elbo";
                         });

TEST(CudaConditionalCalls, EvaluationAndRefinementMatchCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::conditional_config();
  c.samples = 2;
  c.prior_components = 2;  // the learned prior's sampling and estimators under conditions too
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 61, -1.0f, 1.0f);
  cpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  gpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  const int64_t n = 14;  // more than one chunk of max_batch rows
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 62);
  const auto condition = testing::one_hot(testing::labels_of(n, kClasses, 63), kClasses);
  testing::expect_evaluation_calls_match(*cpu, *gpu, c, x, n, condition.data());
  const size_t rows = static_cast<size_t>(n);
  const size_t zc = rows * static_cast<size_t>(c.latent_dim);
  std::vector<float> mu1(zc), mu2(zc), lv1(zc), lv2(zc);
  RefineSettings s;
  s.steps = 10;
  s.samples = 2;
  s.elbo_samples = 4;
  s.learning_rate = 0.05;
  std::vector<float> before1(rows), after1(rows), before2(rows), after2(rows);
  cpu->refine_posterior(x.data(), n, s, mu1.data(), lv1.data(), before1.data(), after1.data(),
                        condition.data());
  gpu->refine_posterior(x.data(), n, s, mu2.data(), lv2.data(), before2.data(), after2.data(),
                        condition.data());
  EXPECT_TRUE(close(mu2, mu1, 1e-4));
  EXPECT_TRUE(close(before2, before1, 1e-4));
  EXPECT_TRUE(close(after2, after1, 1e-4));
}

TEST(CudaConditionalCalls, EpochsOverLabelsAndConditionsMatchCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::conditional_config();
  c.max_batch = 4;
  const int64_t n = 11;
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 71);
  const std::vector<uint8_t> labels = testing::labels_of(n, kClasses, 72);
  const std::vector<float> condition = testing::one_hot(labels, kClasses);
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu_ds = cpu->create_dataset(x.data(), n);
  auto gpu_ds = gpu->create_dataset(x.data(), n);
  cpu->set_dataset_labels(*cpu_ds, labels.data(), n);
  gpu->set_dataset_labels(*gpu_ds, labels.data(), n);
  // Two epochs on each backend: the second's steps replay captured graphs.
  const auto epochs_match = [&] {
    for (int epoch = 0; epoch < 2; ++epoch) {
      float a = 0, b = 0;
      cpu->train_epoch(*cpu_ds, 4, &a);
      gpu->train_epoch(*gpu_ds, 4, &b);
      EXPECT_NEAR(b, a, 1e-4 * std::fabs(a)) << "epoch " << epoch;
    }
    EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                      cpu->read_state(StateBuffer::kParameters), 1e-4));
  };
  epochs_match();
  // New labels after the epoch's steps were captured: the next epochs take
  // them (a captured step read the old ones' memory, since freed).
  const std::vector<uint8_t> relabelled = testing::labels_of(n, kClasses, 73);
  ASSERT_NE(relabelled, labels);
  cpu->set_dataset_labels(*cpu_ds, relabelled.data(), n);
  gpu->set_dataset_labels(*gpu_ds, relabelled.data(), n);
  epochs_match();
  // The same conditions as floats in device memory.
  const auto device_condition = testing::to_device(condition);
  gpu->set_dataset_conditions(*gpu_ds, device_condition->as<float>(), n);
  cpu->set_dataset_conditions(*cpu_ds, condition.data(), n);
  double e1 = 0, e2 = 0;
  cpu->evaluate_dataset(*cpu_ds, &e1, nullptr, nullptr);
  gpu->evaluate_dataset(*gpu_ds, &e2, nullptr, nullptr);
  EXPECT_NEAR(e2, e1, 1e-4 * std::fabs(e1));
  cpu->log_likelihood_dataset(*cpu_ds, 6, VAE_ESTIMATOR_IMPORTANCE, &e1);
  gpu->log_likelihood_dataset(*gpu_ds, 6, VAE_ESTIMATOR_IMPORTANCE, &e2);
  EXPECT_NEAR(e2, e1, 1e-4 * std::fabs(e1));
}

// Conditions in device memory are checked on the device: a step takes them
// as host ones, and a value that is not finite is refused by row and
// column, the step changing nothing.
TEST(CudaConditionalCalls, DeviceConditionsAreCheckedThere) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const Config c = testing::conditional_config();
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const int64_t n = 5;
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 81);
  std::vector<float> condition = testing::uniform(static_cast<size_t>(n * kClasses), 82);
  const auto good = testing::to_device(condition);
  float a = 0, b = 0;
  cpu->train_step(x.data(), n, &a, condition.data());
  gpu->train_step(x.data(), n, &b, good->as<float>());
  EXPECT_NEAR(b, a, 1e-4 * std::fabs(a));
  const std::vector<float> before = gpu->read_state(StateBuffer::kParameters);
  condition[3 * kClasses + 2] = NAN;
  const auto bad = testing::to_device(condition);
  try {
    gpu->train_step(x.data(), n, &b, bad->as<float>());
    ADD_FAILURE() << "a NaN condition was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_INVALID_ARGUMENT);
    const std::string said = e.what();
    EXPECT_NE(said.find("condition"), std::string::npos) << said;
    EXPECT_NE(said.find("row 3"), std::string::npos) << said;
    EXPECT_NE(said.find("column 2"), std::string::npos) << said;
  }
  EXPECT_EQ(gpu->read_state(StateBuffer::kParameters), before);
  // The trainer goes on: the next good step matches the CPU's.
  cpu->train_step(x.data(), n, &a, testing::uniform(condition.size(), 82).data());
  gpu->train_step(x.data(), n, &b, good->as<float>());
  EXPECT_NEAR(b, a, 1e-4 * std::fabs(a));
}

}  // namespace
}  // namespace vae
