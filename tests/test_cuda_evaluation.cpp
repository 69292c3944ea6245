// The CUDA backend's evaluation calls (src/evaluation.h, kernels/evaluation.cu)
// against the CPU backend's, with the same parameters and the same noise:
// the likelihood estimators, the ELBO and their dataset forms, for chunk
// sizes that cut rows and samples anywhere, and their independence of
// VAE_OPT_EVAL_ROWS (to the GEMMs' rounding: cuBLAS may choose other
// kernels for other row counts); and vae_refine_posterior's E-step. Every
// test skips itself where there is no CUDA device.
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

Config config_for(bool gaussian) {
  Config c = testing::small_config(40, 4, {300}, 8);
  if (gaussian) {
    c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
    c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
    c.activation = VAE_ACTIVATION_RELU;
  }
  c.samples = 3;
  return c;
}

std::vector<float> data_for(const Config& c, int64_t rows, uint32_t seed) {
  const size_t count = static_cast<size_t>(rows * c.input_dim);
  return c.gaussian() ? testing::uniform(count, seed) : testing::binary(count, seed);
}

struct Shape {
  int64_t rows;
  int32_t k;
};

class CudaEvaluation : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaEvaluation, EstimatesAndElboMatchCpu) {
  Config c = config_for(GetParam());
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 61, -0.5f, 0.5f);
  for (const Shape& shape : {Shape{13, 50}, Shape{3, 700}, Shape{1300, 1}, Shape{1, 1}}) {
    const auto x = data_for(c, shape.rows, 62);
    const size_t rows = static_cast<size_t>(shape.rows);
    for (int64_t eval_rows : {0, 512, 1100, 1600}) {
      c.eval_rows = eval_rows;
      auto cpu = make_cpu_trainer_impl(c);
      auto gpu = make_cuda_trainer_impl(c);
      cpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
      gpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
      for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
        std::vector<float> a(rows), b(rows);
        cpu->log_likelihood(x.data(), shape.rows, shape.k, estimator, a.data());
        gpu->log_likelihood(x.data(), shape.rows, shape.k, estimator, b.data());
        EXPECT_TRUE(close(b, a, 2e-5)) << "rows " << shape.rows << " k " << shape.k
                                       << " eval_rows " << eval_rows << " estimator " << estimator;
      }
      std::vector<float> e1(rows), e2(rows), r1(rows), r2(rows), k1(rows), k2(rows);
      cpu->evaluate(x.data(), shape.rows, e1.data(), r1.data(), k1.data());
      gpu->evaluate(x.data(), shape.rows, e2.data(), r2.data(), k2.data());
      EXPECT_TRUE(close(e2, e1, 2e-5)) << "rows " << shape.rows << " eval_rows " << eval_rows;
      EXPECT_TRUE(close(r2, r1, 2e-5)) << "rows " << shape.rows << " eval_rows " << eval_rows;
      EXPECT_TRUE(close(k2, k1, 2e-5)) << "rows " << shape.rows << " eval_rows " << eval_rows;
    }
  }
}

TEST_P(CudaEvaluation, DatasetMeansMatchCpuWithProgress) {
  Config c = config_for(GetParam());
  c.eval_rows = 512;
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 71, -0.5f, 0.5f);
  const int64_t rows = 301;
  const auto x = data_for(c, rows, 72);
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  cpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  gpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  auto dc = cpu->create_dataset(x.data(), rows);
  auto dg = gpu->create_dataset(x.data(), rows);
  struct Seen {
    int calls = 0;
    int64_t last_done = 0;
    double last_mean = 0;
  } seen_cpu, seen_gpu;
  const auto record = [](void* user, int64_t done, int64_t, double mean) {
    auto* s = static_cast<Seen*>(user);
    ++s->calls;
    s->last_done = done;
    s->last_mean = mean;
  };
  cpu->set_progress(record, &seen_cpu);
  gpu->set_progress(record, &seen_gpu);
  double lc = 0, lg = 0;
  cpu->log_likelihood_dataset(*dc, 20, VAE_ESTIMATOR_IMPORTANCE, &lc);
  gpu->log_likelihood_dataset(*dg, 20, VAE_ESTIMATOR_IMPORTANCE, &lg);
  EXPECT_NEAR(lg, lc, 2e-5 * std::fabs(lc));
  EXPECT_EQ(seen_gpu.calls, seen_cpu.calls);
  EXPECT_EQ(seen_gpu.last_done, rows);
  EXPECT_NEAR(seen_gpu.last_mean, lg, 1e-9 * std::fabs(lg));
  double ec[3], eg[3];
  cpu->evaluate_dataset(*dc, &ec[0], &ec[1], &ec[2]);
  gpu->evaluate_dataset(*dg, &eg[0], &eg[1], &eg[2]);
  for (int m = 0; m < 3; ++m) EXPECT_NEAR(eg[m], ec[m], 2e-5 * std::max(1.0, std::fabs(ec[m])));
}

TEST_P(CudaEvaluation, EvalRowsChangeOnlyTheRounding) {
  Config c = config_for(GetParam());
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 81, -0.5f, 0.5f);
  const int64_t rows = 37;
  const auto x = data_for(c, rows, 82);
  std::vector<float> first;
  for (int64_t eval_rows : {0, 1, 1100, 2000}) {
    c.eval_rows = eval_rows;
    auto gpu = make_cuda_trainer_impl(c);
    gpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
    std::vector<float> lp(static_cast<size_t>(rows));
    gpu->log_likelihood(x.data(), rows, 100, VAE_ESTIMATOR_IMPORTANCE, lp.data());
    if (first.empty()) {
      first = lp;
    } else {
      EXPECT_TRUE(close(lp, first, 1e-5)) << "eval_rows " << eval_rows;
    }
  }
}

// vae_refine_posterior on the device: the same E-step as the CPU's under the
// same noise (rows in chunks of the max batch, 8 here), with the caller's
// rows and outputs in host memory or in device memory.
TEST_P(CudaEvaluation, RefinedPosteriorsMatchCpu) {
  Config c = config_for(GetParam());
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 91, -0.5f, 0.5f);
  const int64_t rows = 11, z = c.latent_dim;
  const auto x = data_for(c, rows, 92);
  RefineSettings s;
  s.steps = 30;
  s.samples = 2;
  s.elbo_samples = 5;
  s.learning_rate = 0.05;
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  cpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  gpu->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  const auto values = static_cast<size_t>(rows * z), n = static_cast<size_t>(rows);
  std::vector<float> mu(values), logvar(values), before(n), after(n);
  cpu->refine_posterior(x.data(), rows, s, mu.data(), logvar.data(), before.data(), after.data());
  // Adam moved every row's parameters.
  std::vector<float> mu0(values);
  cpu->encode(x.data(), rows, mu0.data(), nullptr);
  EXPECT_FALSE(close(mu, mu0, 1e-3));

  std::vector<float> g_mu(values), g_logvar(values), g_before(n), g_after(n);
  gpu->refine_posterior(x.data(), rows, s, g_mu.data(), g_logvar.data(), g_before.data(),
                        g_after.data());
  EXPECT_TRUE(close(g_mu, mu, 1e-4));
  EXPECT_TRUE(close(g_logvar, logvar, 1e-4));
  EXPECT_TRUE(close(g_before, before, 2e-5));
  EXPECT_TRUE(close(g_after, after, 1e-4));

  // Device memory in and out; a second call draws other noise, so a fresh
  // trainer repeats the first.
  auto again = make_cuda_trainer_impl(c);
  again->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  const auto dx = testing::to_device(x);
  testing::DeviceArray d_mu(sizeof(float) * values), d_logvar(sizeof(float) * values),
      d_before(sizeof(float) * n), d_after(sizeof(float) * n);
  again->refine_posterior(dx->as<float>(), rows, s, d_mu.as<float>(), d_logvar.as<float>(),
                          d_before.as<float>(), d_after.as<float>());
  EXPECT_EQ(testing::from_device<float>(d_mu, values), g_mu);
  EXPECT_EQ(testing::from_device<float>(d_logvar, values), g_logvar);
  EXPECT_EQ(testing::from_device<float>(d_before, n), g_before);
  EXPECT_EQ(testing::from_device<float>(d_after, n), g_after);
}

INSTANTIATE_TEST_SUITE_P(Likelihoods, CudaEvaluation, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Gaussian" : "Bernoulli";
                         });

}  // namespace
}  // namespace vae
