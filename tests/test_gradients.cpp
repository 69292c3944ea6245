// Every parameter block's gradient against central finite differences of the
// loss in double precision, under a fixed draw of the reparameterization
// noise, for each likelihood, variance mode and objective.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <random>
#include <string>

#include "test_support.h"

namespace vae {
namespace {

using testing::CpuTrainerD;

struct GradientCase {
  std::string name;
  int likelihood;
  int variance;
  int objective;
  int64_t samples;
  int activation;
  double beta;
};

// gtest names the case by this in its output.
void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

class Gradients : public ::testing::TestWithParam<GradientCase> {};

TEST_P(Gradients, MatchCentralFiniteDifferences) {
  const GradientCase& gc = GetParam();
  Config c = testing::small_config();
  c.likelihood = gc.likelihood;
  c.variance = gc.variance;
  c.log_variance = -0.4;
  c.objective = gc.objective;
  c.samples = gc.samples;
  c.activation = gc.activation;
  c.kl_weight = gc.beta;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  const int64_t n = 5;
  const auto& layout = t->network().layout();
  double* params = t->network().buffers().params;
  // Move the learned log variances off their initial constant so every
  // dimension differs.
  for (int64_t d = 0; d < layout.log_variance_count; ++d) {
    params[layout.log_variance + static_cast<size_t>(d)] = -0.5 + 0.1 * static_cast<double>(d % 7);
  }

  const std::vector<float> x = gc.likelihood == VAE_LIKELIHOOD_BERNOULLI
                                   ? testing::binary(static_cast<size_t>(n * c.input_dim), 21)
                                   : testing::uniform(static_cast<size_t>(n * c.input_dim), 21);
  const std::vector<float> eps =
      testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 22);
  std::vector<double> gradient;
  t->loss_and_gradient(x.data(), n, eps.data(), &gradient);
  ASSERT_EQ(gradient.size(), layout.packed_total);

  auto loss_at = [&](size_t e, double value) {
    const double saved = params[e];
    params[e] = value;
    std::vector<double> unused;
    t->loss_and_gradient(x.data(), n, eps.data(), &unused);
    params[e] = saved;
    return t->network().buffers().loss[0];
  };

  std::mt19937 rng(5);
  int checked = 0;
  for (const NamedTensor& tensor : layout.tensors()) {
    std::uniform_int_distribution<size_t> pick(0, tensor.count - 1);
    for (int trial = 0; trial < 6; ++trial) {
      const size_t i = pick(rng), e = tensor.offset + i;
      const double h = 1e-5;
      const double fd = (loss_at(e, params[e] + h) - loss_at(e, params[e] - h)) / (2 * h);
      EXPECT_NEAR(gradient[tensor.packed_offset + i], fd, 1e-7 + 1e-6 * std::fabs(fd))
          << tensor.name << " element " << i;
      ++checked;
    }
  }
  EXPECT_GE(checked, 6 * 8);
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, Gradients,
    ::testing::Values(
        GradientCase{"BernoulliElboK1", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 1, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"BernoulliElboK3", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 3, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"BernoulliIwaeK1", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_IWAE, 1, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"BernoulliIwaeK4", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_IWAE, 4, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"BernoulliReluElboBetaHalf", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 2, VAE_ACTIVATION_RELU, 0.5},
        GradientCase{"GaussianFixedElboK1", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 1, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"GaussianFixedIwaeK3", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_IWAE, 3, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"GaussianSharedElboK2", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_SHARED, VAE_OBJECTIVE_ELBO, 2, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"GaussianSharedIwaeK1", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_SHARED, VAE_OBJECTIVE_IWAE, 1, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"GaussianPerDimElboK1", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM, VAE_OBJECTIVE_ELBO, 1, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"GaussianPerDimIwaeK4", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM, VAE_OBJECTIVE_IWAE, 4, VAE_ACTIVATION_TANH, 2.0},
        GradientCase{"GaussianDecoderElboK2", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_DECODER, VAE_OBJECTIVE_ELBO, 2, VAE_ACTIVATION_TANH, 1.0},
        GradientCase{"GaussianDecoderIwaeK3", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_DECODER, VAE_OBJECTIVE_IWAE, 3, VAE_ACTIVATION_RELU, 1.0}),
    [](const ::testing::TestParamInfo<GradientCase>& param_info) { return param_info.param.name; });

// No hidden layers: the encoder is the head alone, the decoder one layer.
TEST(GradientsNoHidden, MatchFiniteDifferences) {
  Config c = testing::small_config(9, 2, {});
  c.samples = 2;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  const int64_t n = 4;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 31);
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 32);
  std::vector<double> gradient, unused;
  t->loss_and_gradient(x.data(), n, eps.data(), &gradient);
  double* params = t->network().buffers().params;
  for (size_t e = 0; e < gradient.size(); ++e) {
    const double h = 1e-5, saved = params[e];
    params[e] = saved + h;
    t->loss_and_gradient(x.data(), n, eps.data(), &unused);
    const double up = t->network().buffers().loss[0];
    params[e] = saved - h;
    t->loss_and_gradient(x.data(), n, eps.data(), &unused);
    const double down = t->network().buffers().loss[0];
    params[e] = saved;
    EXPECT_NEAR(gradient[e], (up - down) / (2 * h), 1e-7 + 1e-6 * std::fabs(gradient[e])) << e;
  }
}

}  // namespace
}  // namespace vae
