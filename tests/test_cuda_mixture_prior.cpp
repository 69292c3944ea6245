// A learned mixture prior (VAE_OPT_PRIOR_COMPONENTS, kernels/prior.cu) on the
// CUDA backend against the CPU backend with the same parameters and noise:
// the loss and every gradient (the prior's included), steps and epochs of
// both objectives and every update mode, the live KL weight read by the
// captured steps, the estimators, the ELBO's sampled KL, vae_sample and
// vae_refine_posterior. Every test skips itself where there is no CUDA
// device.
#include <gtest/gtest.h>

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

constexpr double kStepTol = 1e-4;

Config prior_config(int objective, int64_t components) {
  Config c = testing::small_config(13, 3, {7, 5}, 6);
  c.samples = 2;
  c.objective = objective;
  c.prior_components = components;
  c.kl_weight = 0.8;
  return c;
}

// Parameters for both trainers: uniform values, the prior's log variances
// among them in [-0.5, 0.5], its means spread by the seed's draw.
std::vector<float> parameters(const Config& c, uint32_t seed) {
  return testing::uniform(ParameterLayout(c).packed_total, seed, -0.5f, 0.5f);
}

class CudaMixturePrior : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaMixturePrior, LossAndGradientMatchCpu) {
  const Config c = prior_config(GetParam(), 3);
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const auto p = parameters(c, 71);
  cpu->set_parameters(p.data(), static_cast<int64_t>(p.size()));
  gpu->set_parameters(p.data(), static_cast<int64_t>(p.size()));
  const int64_t n = 5;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 72);
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 73);
  std::vector<double> ga, gb;
  const double la = cpu->loss_and_gradient(x.data(), n, eps.data(), &ga);
  const double lb = gpu->loss_and_gradient(x.data(), n, eps.data(), &gb);
  EXPECT_NEAR(lb, la, 1e-5 * std::fabs(la));
  ASSERT_EQ(ga.size(), gb.size());
  const std::vector<float> fa(ga.begin(), ga.end()), fb(gb.begin(), gb.end());
  EXPECT_TRUE(close(fb, fa, 1e-5));
  // The prior's gradient is not zero: the test reaches its kernel.
  const ParameterLayout packed(c);
  double prior_sum = 0;
  for (size_t e = packed.prior_means; e < packed.packed_total; ++e) prior_sum += std::fabs(ga[e]);
  EXPECT_GT(prior_sum, 1e-3);
}

// Every model and training control of issue 21 at once: a learned prior, a
// decoder that predicts its variance, a cosine schedule after a warm-up and
// clipping. The loss and gradient, and the steps that follow (captured and
// replayed), follow the CPU's.
TEST_P(CudaMixturePrior, WithDecoderVarianceScheduleAndClippingMatchCpu) {
  Config c = prior_config(GetParam(), 3);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_DECODER;
  c.lr_schedule = VAE_SCHEDULE_COSINE;
  c.warmup_steps = 2;
  c.decay_steps = 4;
  c.clip_norm = 0.5;
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const auto p = parameters(c, 81);
  cpu->set_parameters(p.data(), static_cast<int64_t>(p.size()));
  gpu->set_parameters(p.data(), static_cast<int64_t>(p.size()));
  const int64_t n = 5;
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 82);
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 83);
  std::vector<double> ga, gb;
  const double la = cpu->loss_and_gradient(x.data(), n, eps.data(), &ga);
  const double lb = gpu->loss_and_gradient(x.data(), n, eps.data(), &gb);
  EXPECT_NEAR(lb, la, 1e-5 * std::fabs(la));
  const std::vector<float> fa(ga.begin(), ga.end()), fb(gb.begin(), gb.end());
  EXPECT_TRUE(close(fb, fa, 1e-5));
  for (int s = 0; s < 8; ++s) {
    float cpu_loss = 0, gpu_loss = 0;
    cpu->train_step(x.data(), n, &cpu_loss);
    gpu->train_step(x.data(), n, &gpu_loss);
    EXPECT_NEAR(gpu_loss, cpu_loss, 1e-4 * std::fabs(cpu_loss)) << "step " << s;
  }
  EXPECT_NEAR(gpu->get_float(VAE_OPT_GRAD_NORM), cpu->get_float(VAE_OPT_GRAD_NORM),
              1e-4 * cpu->get_float(VAE_OPT_GRAD_NORM));
  EXPECT_GT(cpu->get_float(VAE_OPT_GRAD_NORM), 0.5);  // the steps were clipped
  std::vector<float> pa(p.size()), pb(p.size());
  cpu->get_parameters(pa.data(), static_cast<int64_t>(pa.size()));
  gpu->get_parameters(pb.data(), static_cast<int64_t>(pb.size()));
  EXPECT_TRUE(close(pb, pa, kStepTol));
}

// Steps of every update mode, a change of the live KL weight and an epoch
// replayed from captured graphs: the device's parameters follow the CPU's.
TEST_P(CudaMixturePrior, StepsAndEpochsMatchCpu) {
  Config c = prior_config(GetParam(), 2);
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const auto x = testing::binary(static_cast<size_t>(6 * c.input_dim), 74);
  for (int update : {VAE_UPDATE_ALL, VAE_UPDATE_DECODER, VAE_UPDATE_ENCODER, VAE_UPDATE_ALL}) {
    cpu->set_int(VAE_OPT_UPDATE, update);
    gpu->set_int(VAE_OPT_UPDATE, update);
    for (int step = 0; step < 3; ++step) {
      float lc = 0, lg = 0;
      cpu->train_step(x.data(), 6, &lc);
      gpu->train_step(x.data(), 6, &lg);
      EXPECT_NEAR(lg, lc, kStepTol * std::fabs(lc)) << "update " << update << " step " << step;
    }
  }
  cpu->set_float(VAE_OPT_KL_WEIGHT, 0.3);
  gpu->set_float(VAE_OPT_KL_WEIGHT, 0.3);
  auto ds_cpu = cpu->create_dataset(x.data(), 6);
  auto ds_gpu = gpu->create_dataset(x.data(), 6);
  for (int epoch = 0; epoch < 2; ++epoch) {
    float lc = 0, lg = 0;
    cpu->train_epoch(*ds_cpu, 4, &lc);
    gpu->train_epoch(*ds_gpu, 4, &lg);
    EXPECT_NEAR(lg, lc, kStepTol * std::fabs(lc)) << "epoch " << epoch;
  }
  const auto pc = cpu->read_state(StateBuffer::kParameters);
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters), pc, kStepTol));
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kAdamSecondMoment),
                    cpu->read_state(StateBuffer::kAdamSecondMoment), kStepTol));
  // The prior moved away from its start.
  const ParameterLayout packed(c);
  const auto start = make_cpu_trainer_impl(c)->read_state(StateBuffer::kParameters);
  double moved = 0;
  for (size_t e = packed.prior_means; e < packed.packed_total; ++e) moved += std::fabs(pc[e] - start[e]);
  EXPECT_GT(moved, 1e-3);
}

// The estimators (z from the mixture for the prior estimator, its log
// density in the importance weights), the ELBO with the sampled KL, draws
// of vae_sample, and the E-step of vae_refine_posterior.
TEST_P(CudaMixturePrior, EvaluationSamplingAndRefinementMatchCpu) {
  Config c = prior_config(GetParam(), 4);
  const auto p = parameters(c, 75);
  const int64_t rows = 9;
  const auto x = testing::binary(static_cast<size_t>(rows * c.input_dim), 76);
  const auto n = static_cast<size_t>(rows);
  for (int64_t eval_rows : {0, 512}) {
    c.eval_rows = eval_rows;
    auto cpu = make_cpu_trainer_impl(c);
    auto gpu = make_cuda_trainer_impl(c);
    cpu->set_parameters(p.data(), static_cast<int64_t>(p.size()));
    gpu->set_parameters(p.data(), static_cast<int64_t>(p.size()));
    for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
      std::vector<float> a(n), b(n);
      cpu->log_likelihood(x.data(), rows, 300, estimator, a.data());
      gpu->log_likelihood(x.data(), rows, 300, estimator, b.data());
      EXPECT_TRUE(close(b, a, 2e-5)) << "estimator " << estimator << " eval_rows " << eval_rows;
    }
    std::vector<float> e1(n), e2(n), r1(n), r2(n), k1(n), k2(n);
    cpu->evaluate(x.data(), rows, e1.data(), r1.data(), k1.data());
    gpu->evaluate(x.data(), rows, e2.data(), r2.data(), k2.data());
    EXPECT_TRUE(close(e2, e1, 2e-5));
    EXPECT_TRUE(close(r2, r1, 2e-5));
    EXPECT_TRUE(close(k2, k1, 2e-5));
    for (size_t i = 0; i < n; ++i) EXPECT_NEAR(e1[i], r1[i] - k1[i], 1e-4 * (1 + std::fabs(e1[i])));

    const int64_t draws = 50;  // more than one chunk of max batch * samples = 12
    std::vector<float> s1(static_cast<size_t>(draws * c.input_dim)), s2(s1.size());
    cpu->sample(draws, s1.data());
    gpu->sample(draws, s2.data());
    EXPECT_TRUE(close(s2, s1, 2e-5));

    RefineSettings s;
    s.steps = 10;
    s.samples = 2;
    s.elbo_samples = 5;
    s.learning_rate = 0.05;
    const auto values = static_cast<size_t>(rows * c.latent_dim);
    std::vector<float> mu(values), lv(values), before(n), after(n);
    std::vector<float> g_mu(values), g_lv(values), g_before(n), g_after(n);
    cpu->refine_posterior(x.data(), rows, s, mu.data(), lv.data(), before.data(), after.data());
    gpu->refine_posterior(x.data(), rows, s, g_mu.data(), g_lv.data(), g_before.data(),
                          g_after.data());
    EXPECT_TRUE(close(g_mu, mu, 1e-4));
    EXPECT_TRUE(close(g_lv, lv, 1e-4));
    EXPECT_TRUE(close(g_before, before, 2e-5));
    EXPECT_TRUE(close(g_after, after, 1e-4));
  }
}

INSTANTIATE_TEST_SUITE_P(Objectives, CudaMixturePrior,
                         ::testing::Values(VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return param.param == VAE_OBJECTIVE_IWAE ? "Iwae" : "Elbo";
                         });

}  // namespace
}  // namespace vae
