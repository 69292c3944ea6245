// On a model with a one-dimensional latent, log p(x) = log \int p(x|z) p(z) dz
// is computed exactly by quadrature; the estimators are checked against it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_support.h"

namespace vae {
namespace {

using testing::CpuTrainerD;

class OneDimensionalLatent : public ::testing::Test {
 protected:
  static constexpr int64_t kDim = 10;
  static constexpr int64_t kRows = 4;

  void SetUp() override {
    Config c = testing::small_config(kDim, 1, {16}, 128);
    c.samples = 32;  // decoder rows per chunk: 4096
    c.learning_rate = 3e-3;
    t_ = testing::make_trainer<CpuTrainerD>(c);
    // Train a little on structured data so the posterior is narrow and
    // shifted: a real test for the importance sampler.
    const auto data = structured(128, 41);
    for (int step = 0; step < 150; ++step) t_->train_step(data.data(), 128, nullptr);
    x_ = structured(kRows, 42);
  }

  static std::vector<float> structured(int64_t rows, uint32_t seed) {
    return testing::two_patterns(rows, kDim, seed);
  }

  // log p(x_row) by the trapezoid rule on [-12, 12] with 24,001 nodes, summed
  // as a log-sum-exp: the integrand is smooth and negligible beyond the ends.
  double exact_log_px(int64_t row) {
    auto& net = t_->network();
    auto& b = net.buffers();
    for (int64_t d = 0; d < kDim; ++d) b.x[d] = x_[static_cast<size_t>(row * kDim + d)];
    const int64_t nodes = 24001;
    const double lo = -12, hi = 12, h = (hi - lo) / static_cast<double>(nodes - 1);
    std::vector<double> terms;
    for (int64_t first = 0; first < nodes; first += net.max_rows()) {
      const int64_t count = std::min(net.max_rows(), nodes - first);
      for (int64_t i = 0; i < count; ++i) b.z[i] = lo + h * static_cast<double>(first + i);
      net.decode(count, 1);
      t_->ops().likelihood_forward(net.likelihood(), nullptr, b.dec_out.back(), b.x, count, 1,
                                   kDim, b.nll, nullptr, 1.0);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t node = first + i;
        const double weight = (node == 0 || node == nodes - 1) ? 0.5 : 1.0;
        terms.push_back(-b.nll[i] + standard_normal_log_density(b.z[i]) + std::log(weight * h));
      }
    }
    const double top = *std::max_element(terms.begin(), terms.end());
    double sum = 0;
    for (double v : terms) sum += std::exp(v - top);
    return top + std::log(sum);
  }

  std::unique_ptr<CpuTrainerD> t_;
  std::vector<float> x_;
};

TEST_F(OneDimensionalLatent, EstimatorsAgreeWithQuadrature) {
  std::vector<float> importance(kRows), prior(kRows), elbo(kRows);
  t_->log_likelihood(x_.data(), kRows, 20000, VAE_ESTIMATOR_IMPORTANCE, importance.data());
  t_->log_likelihood(x_.data(), kRows, 200000, VAE_ESTIMATOR_PRIOR, prior.data());
  for (int64_t r = 0; r < kRows; ++r) {
    const double exact = exact_log_px(r);
    EXPECT_NEAR(importance[static_cast<size_t>(r)], exact, 0.02) << "row " << r;
    EXPECT_NEAR(prior[static_cast<size_t>(r)], exact, 0.05) << "row " << r;
    // The ELBO averaged over many noise draws stays below log p(x).
    double mean_elbo = 0;
    const int repeats = 400;
    for (int rep = 0; rep < repeats; ++rep) {
      t_->evaluate(x_.data(), kRows, elbo.data(), nullptr, nullptr);
      mean_elbo += elbo[static_cast<size_t>(r)] / repeats;
    }
    EXPECT_LT(mean_elbo, exact) << "row " << r;
  }
}

TEST_F(OneDimensionalLatent, ImportanceWeightedBoundRisesWithK) {
  // L_K = E[log (1/K) sum_k w_k], estimated as the mean of many independent
  // K-sample estimates; L_1 is the ELBO and L_K rises towards log p(x).
  std::vector<float> rows(static_cast<size_t>(kDim) * 512);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = x_[i % static_cast<size_t>(kDim)];
  const double exact = exact_log_px(0);
  double previous = -INFINITY;
  for (int32_t k : {1, 4, 32}) {
    std::vector<float> lp(512);
    double mean = 0;
    for (int rep = 0; rep < 4; ++rep) {
      t_->log_likelihood(rows.data(), 512, k, VAE_ESTIMATOR_IMPORTANCE, lp.data());
      for (float v : lp) mean += v / (512.0 * 4);
    }
    EXPECT_GT(mean, previous) << "K = " << k;
    EXPECT_LT(mean, exact + 0.005) << "K = " << k;
    previous = mean;
  }
}

}  // namespace
}  // namespace vae
