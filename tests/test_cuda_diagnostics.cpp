// The CUDA backend's diagnostics against the CPU backend's, with the same
// parameters and the same noise: vae_log_likelihood_stats (estimate,
// standard error, ESS; fixed and adaptive K; rows cut across chunks;
// device-memory inputs and outputs), its dataset form, and
// vae_latent_usage. On the CUDA backend itself, the estimate equals
// vae_log_likelihood's bit for bit and adaptive K equals the fixed-K call at
// the K it reports. Tolerances: 2e-5 relative for log p^ and the latent
// figures (the GEMMs' rounding), 1e-3 relative for the standard error and
// the ESS (which amplify the log weights' rounding by their spread).
// Every test skips itself where there is no CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;

Config config_for(bool gaussian) {
  Config c = testing::small_config(40, 4, {48}, 8);
  if (gaussian) {
    c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
    c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  }
  c.eval_rows = 512;  // rows cut across chunks
  return c;
}

std::vector<float> data_for(const Config& c, int64_t rows, uint32_t seed) {
  const size_t count = static_cast<size_t>(rows * c.input_dim);
  return c.gaussian() ? testing::uniform(count, seed) : testing::binary(count, seed);
}

struct Rows {
  std::vector<float> log_px, std_error, ess;
  std::vector<int32_t> k_used;
};

template <class T>
Rows stats(T& trainer, const std::vector<float>& x, int64_t n, const vae_likelihood_options& o) {
  Rows r{std::vector<float>(n), std::vector<float>(n), std::vector<float>(n),
         std::vector<int32_t>(n)};
  const vae_likelihood_rows out{sizeof(vae_likelihood_rows), r.log_px.data(), r.std_error.data(),
                                r.ess.data(), r.k_used.data()};
  trainer.log_likelihood_stats(x.data(), n, &o, &out);
  return r;
}

vae_likelihood_options options(int32_t k, int estimator) {
  vae_likelihood_options o{};
  o.size = sizeof o;
  o.k = k;
  o.estimator = estimator;
  return o;
}

class CudaDiagnostics : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
    c_ = config_for(GetParam());
    params_ = testing::uniform(ParameterLayout(c_).packed_total, 81, -0.5f, 0.5f);
  }
  template <class T>
  T& with_params(std::unique_ptr<T>& t) {
    t->set_parameters(params_.data(), static_cast<int64_t>(params_.size()));
    return *t;
  }
  std::unique_ptr<testing::CpuTrainerF> cpu() {
    auto t = make_cpu_trainer_impl(c_);
    with_params(t);
    return t;
  }
  std::unique_ptr<testing::CudaTrainer> gpu() {
    auto t = make_cuda_trainer_impl(c_);
    with_params(t);
    return t;
  }

  Config c_;
  std::vector<float> params_;
};

TEST_P(CudaDiagnostics, ErrorBarsMatchCpuAndTheEstimateIsVaeLogLikelihoods) {
  const int64_t n = 13;
  const auto x = data_for(c_, n, 82);
  for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
    SCOPED_TRACE("estimator " + std::to_string(estimator));
    const auto o = options(50, estimator);
    const Rows a = stats(*cpu(), x, n, o);
    const Rows b = stats(*gpu(), x, n, o);
    EXPECT_TRUE(close(b.log_px, a.log_px, 2e-5));
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      EXPECT_NEAR(b.std_error[i], a.std_error[i], 1e-3 * a.std_error[i]) << "row " << i;
      EXPECT_NEAR(b.ess[i], a.ess[i], 1e-3 * a.ess[i]) << "row " << i;
      EXPECT_GE(b.ess[i], 1.0f);
      EXPECT_LE(b.ess[i], 50.0f);
      EXPECT_EQ(b.k_used[i], 50);
    }
    std::vector<float> plain(n);
    gpu()->log_likelihood(x.data(), n, 50, estimator, plain.data());
    EXPECT_EQ(std::memcmp(plain.data(), b.log_px.data(), sizeof(float) * n), 0);
  }
}

TEST_P(CudaDiagnostics, AdaptiveKEqualsTheFixedCallAndAcceptsDeviceMemory) {
  const int64_t n = 12;
  const auto x = data_for(c_, n, 83);
  const Rows at16 = stats(*gpu(), x, n, options(16, VAE_ESTIMATOR_IMPORTANCE));
  std::vector<float> sorted = at16.std_error;
  std::sort(sorted.begin(), sorted.end());
  vae_likelihood_options o = options(4, VAE_ESTIMATOR_IMPORTANCE);
  o.adaptive = 1;
  o.k_max = 64;
  o.target_std_error = sorted[n / 2];
  // x and every output in device memory.
  auto gx = testing::to_device(x);
  testing::DeviceArray log_px(sizeof(float) * n), se(sizeof(float) * n), ess(sizeof(float) * n),
      k_used(sizeof(int32_t) * n);
  const vae_likelihood_rows out{sizeof(vae_likelihood_rows), log_px.as<float>(), se.as<float>(),
                                ess.as<float>(), k_used.as<int32_t>()};
  gpu()->log_likelihood_stats(gx->as<float>(), n, &o, &out);
  const Rows a{testing::from_device<float>(log_px, n), testing::from_device<float>(se, n),
               testing::from_device<float>(ess, n), testing::from_device<int32_t>(k_used, n)};
  const Rows cpu_rows = stats(*cpu(), x, n, o);
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    const int32_t k = a.k_used[i];
    EXPECT_TRUE(a.std_error[i] <= o.target_std_error || k == o.k_max) << "row " << i;
    const Rows fixed = stats(*gpu(), x, n, options(k, VAE_ESTIMATOR_IMPORTANCE));
    EXPECT_EQ(std::memcmp(&a.log_px[i], &fixed.log_px[i], sizeof(float)), 0) << "row " << i;
    EXPECT_EQ(std::memcmp(&a.std_error[i], &fixed.std_error[i], sizeof(float)), 0) << "row " << i;
    EXPECT_EQ(std::memcmp(&a.ess[i], &fixed.ess[i], sizeof(float)), 0) << "row " << i;
    if (cpu_rows.k_used[i] == k) {
      EXPECT_NEAR(a.log_px[i], cpu_rows.log_px[i], 2e-5 * std::fabs(cpu_rows.log_px[i]));
    }
  }
}

TEST_P(CudaDiagnostics, DatasetFormsMatchCpu) {
  const int64_t n = 101;
  const auto x = data_for(c_, n, 84);
  auto a = cpu();
  auto b = gpu();
  auto da = a->create_dataset(x.data(), n);
  auto db = b->create_dataset(x.data(), n);
  vae_likelihood_options o = options(8, VAE_ESTIMATOR_IMPORTANCE);
  o.adaptive = 1;
  o.k_max = 64;
  o.target_std_error = 0.2;
  vae_likelihood_summary sa{}, sb{};
  sa.size = sb.size = sizeof sa;
  a->log_likelihood_stats_dataset(*da, &o, &sa);
  b->log_likelihood_stats_dataset(*db, &o, &sb);
  EXPECT_NEAR(sb.mean_log_px, sa.mean_log_px, 2e-5 * std::fabs(sa.mean_log_px));
  EXPECT_NEAR(sb.std_error, sa.std_error, 1e-2 * sa.std_error);
  EXPECT_NEAR(sb.mean_ess, sa.mean_ess, 1e-2 * sa.mean_ess);
  EXPECT_NEAR(sb.mean_k_used, sa.mean_k_used, 0.05 * sa.mean_k_used);
  vae_latent_usage_options lo{};
  lo.size = sizeof lo;
  lo.active_threshold = 0.01;
  lo.mi_rows = 50;
  lo.mi_samples = 2;
  std::vector<double> kla(4), klb(4), aca(4), acb(4);
  vae_latent_usage_result ua{sizeof ua, kla.data(), aca.data(), 0, 0, 0, 0, 0};
  vae_latent_usage_result ub{sizeof ub, klb.data(), acb.data(), 0, 0, 0, 0, 0};
  a->latent_usage(*da, &lo, &ua);
  b->latent_usage(*db, &lo, &ub);
  for (size_t u = 0; u < 4; ++u) {
    EXPECT_NEAR(klb[u], kla[u], 2e-5 * std::max(1.0, kla[u])) << "latent " << u;
    EXPECT_NEAR(acb[u], aca[u], 2e-5 * std::max(1.0, aca[u])) << "latent " << u;
  }
  EXPECT_EQ(ub.active_units, ua.active_units);
  EXPECT_NEAR(ub.mutual_information, ua.mutual_information, 1e-4);
  EXPECT_NEAR(ub.marginal_kl, ua.marginal_kl, 1e-4);
  // The per-dimension arrays are host memory: device memory is refused.
  testing::DeviceArray device_kl(sizeof(double) * 4);
  vae_latent_usage_result bad = ub;
  bad.kl = device_kl.as<double>();
  EXPECT_THROW(b->latent_usage(*db, &lo, &bad), Error);
}

INSTANTIATE_TEST_SUITE_P(Likelihoods, CudaDiagnostics, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Gaussian" : "Bernoulli";
                         });

}  // namespace
}  // namespace vae
