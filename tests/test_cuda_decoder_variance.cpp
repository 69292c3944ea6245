// The decoder-predicted variance (VAE_VARIANCE_DECODER) on the CUDA backend
// against the CPU backend, with the same parameters and the same noise:
// steps (losses, parameters, Adam's moments), the gradient, the evaluation
// calls, vae_encode, vae_decode, vae_sample and vae_refine_posterior. Every test skips
// itself where there is no CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda_test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;

Config decoder_variance_config(int objective, int64_t samples) {
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_DECODER;
  c.min_log_variance = -4.0;
  c.log_variance = -1.0;
  c.objective = objective;
  c.samples = samples;
  return c;
}

class CudaDecoderVariance : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaDecoderVariance, StepsAndGradientMatchCpu) {
  const Config c = decoder_variance_config(GetParam(), 3);
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  ASSERT_EQ(gpu->read_state(StateBuffer::kParameters), cpu->read_state(StateBuffer::kParameters));
  const int64_t n = 6;
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 70);
  for (uint32_t step = 0; step < 4; ++step) {
    const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 80 + step);
    float loss_cpu = 0, loss_gpu = 0;
    cpu->train_step_with_noise(x.data(), n, eps.data(), &loss_cpu);
    gpu->train_step_with_noise(x.data(), n, eps.data(), &loss_gpu);
    EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * std::max(1.0f, std::fabs(loss_cpu))) << "step " << step;
  }
  testing::expect_states_match(*cpu, *gpu);
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 90);
  testing::expect_gradients_match(*cpu, *gpu, x, n, eps);
}

INSTANTIATE_TEST_SUITE_P(Objectives, CudaDecoderVariance,
                         ::testing::Values(VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return param_info.param == VAE_OBJECTIVE_IWAE ? "Iwae" : "Elbo";
                         });

TEST(CudaDecoderVarianceCalls, EvaluationDecodeAndRefinementMatchCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const Config c = decoder_variance_config(VAE_OBJECTIVE_ELBO, 2);
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  // Parameters that spread the predicted log variances, some near the bound.
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 61, -1.5f, 1.5f);
  cpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  gpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  const int64_t n = 14;  // more than one chunk of max_batch rows
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 72);
  testing::expect_evaluation_calls_match(*cpu, *gpu, c, x, n);
  const size_t rows = static_cast<size_t>(n);
  const size_t zc = rows * static_cast<size_t>(c.latent_dim);
  std::vector<float> mu1(zc), mu2(zc), lv1(zc), lv2(zc);
  // vae_refine_posterior's E-step through the 2D-wide likelihood.
  RefineSettings s;
  s.steps = 20;
  s.samples = 2;
  s.elbo_samples = 5;
  s.learning_rate = 0.05;
  std::vector<float> before1(rows), after1(rows), before2(rows), after2(rows);
  cpu->refine_posterior(x.data(), n, s, mu1.data(), lv1.data(), before1.data(), after1.data());
  gpu->refine_posterior(x.data(), n, s, mu2.data(), lv2.data(), before2.data(), after2.data());
  EXPECT_TRUE(close(mu2, mu1, 1e-4));
  EXPECT_TRUE(close(lv2, lv1, 1e-4));
  EXPECT_TRUE(close(before2, before1, 1e-4));
  EXPECT_TRUE(close(after2, after1, 1e-4));
  for (size_t i = 0; i < rows; ++i) EXPECT_TRUE(std::isfinite(after1[i])) << i;
}

}  // namespace
}  // namespace vae
