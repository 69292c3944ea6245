// The decoder-predicted variance (VAE_VARIANCE_DECODER) on the CPU backend:
// every parameter's gradient against finite differences in double, the
// bound at its edge, the variances a linear model learns of data from a
// known heteroscedastic Gaussian, vae_decode's means, checkpoints (saved,
// loaded, resumed exactly; files without the bound load) and the refusals
// of bad values. (tests/test_gradients.cpp has its cases among the others';
// tests/test_cuda_decoder_variance.cpp compares the CUDA backend.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "checkpoint_edit.h"
#include "finite_differences.h"
#include "safetensors.h"
#include "test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::CpuTrainerD;
using testing::CpuTrainerF;

Config decoder_variance_config(int64_t dim, int64_t latent, std::vector<int64_t> hidden) {
  Config c = testing::small_config(dim, latent, std::move(hidden));
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_DECODER;
  c.min_log_variance = -3.0;
  c.log_variance = -0.5;
  return c;
}

TEST(DecoderVariance, EveryGradientMatchesFiniteDifferences) {
  for (int objective : {VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE}) {
    Config c = decoder_variance_config(5, 2, {4});
    c.samples = 2;
    c.objective = objective;
    auto t = testing::make_trainer<CpuTrainerD>(c);
    const int64_t n = 3;
    const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 41);
    const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 42);
    testing::expect_gradient_matches_differences(*t, x, n, eps);
  }
}

TEST(DecoderVariance, TheOutputRowIsTheMeansThenTheLogVarianceOutputs) {
  const Config c = decoder_variance_config(6, 2, {});
  const ParameterLayout layout(c);
  ASSERT_EQ(layout.decoder.size(), 1u);
  EXPECT_EQ(layout.decoder.back().out, 12);
  EXPECT_EQ(layout.log_variance_count, 0);
  // The log-variance outputs' biases start where the bound's map gives
  // VAE_OPT_LOG_VARIANCE; the means' biases are nn.Linear's draws.
  auto t = testing::make_trainer<CpuTrainerF>(c);
  std::vector<float> p(layout.packed_total);
  t->get_parameters(p.data(), static_cast<int64_t>(p.size()));
  const size_t bias = layout.decoder.back().bias;
  for (int64_t d = 0; d < c.input_dim; ++d) {
    const double o = p[bias + static_cast<size_t>(c.input_dim + d)];
    EXPECT_NEAR(bounded_log_variance(o, c.min_log_variance), c.log_variance, 1e-6) << d;
  }
  // vae_decode returns the D means: W z + b's first D rows.
  const std::vector<float> z = {0.3f, -1.2f};
  std::vector<float> mean(static_cast<size_t>(c.input_dim));
  t->decode(z.data(), 1, mean.data());
  const LinearLayer& out = layout.decoder.back();
  for (int64_t d = 0; d < c.input_dim; ++d) {
    const size_t row = out.weight + static_cast<size_t>(d * out.in);
    const double want = p[out.bias + static_cast<size_t>(d)] + p[row] * z[0] + p[row + 1] * z[1];
    EXPECT_NEAR(mean[static_cast<size_t>(d)], want, 1e-5) << d;
  }
}

TEST(DecoderVariance, TheBoundHoldsAtTheEdge) {
  // Element math: outputs far below the bound m give log variances that
  // approach m from above, a finite nll and finite, nonzero gradients.
  const double m = -9.0;
  for (double below : {1.0, 10.0, 40.0, 700.0}) {
    const double o = m - below;
    const double v = bounded_log_variance(o, m);
    EXPECT_GE(v, m) << below;
    if (below <= 10) {
      EXPECT_GT(v, m) << below;  // further below, v - m < one ulp of m
    }
    EXPECT_LE(v - m, std::exp(-below) * 1.0000001) << below;
    double g_mean = 0, g_o = 0;
    const double nll = bounded_gaussian_nll_and_grads(0.7, 0.2, o, m, &g_mean, &g_o);
    EXPECT_TRUE(std::isfinite(nll) && std::isfinite(g_mean) && std::isfinite(g_o)) << below;
    EXPECT_LT(g_o, 0.0) << below;  // a wide residual asks for more variance, even here
    if (below >= 40) {
      EXPECT_NEAR(nll, 0.5 * (0.25 * std::exp(-m) + m + kLog2Pi), 1e-9 * std::fabs(nll));
    }
  }
  // In float, as the trainers compute: the bound itself, never below it.
  EXPECT_GE(bounded_log_variance(-1e30f, -9.0f), -9.0f);
  // Through a trainer whose log-variance biases sit far below the bound:
  // the loss and every gradient are finite.
  const Config c = decoder_variance_config(6, 2, {5});
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const ParameterLayout layout(c);
  std::vector<float> p(layout.packed_total);
  t->get_parameters(p.data(), static_cast<int64_t>(p.size()));
  const LinearLayer& out = layout.decoder.back();
  for (int64_t d = 0; d < c.input_dim; ++d) {
    p[out.bias + static_cast<size_t>(c.input_dim + d)] = -1e6f;
  }
  t->set_parameters(p.data(), static_cast<int64_t>(p.size()));
  const auto x = testing::uniform(static_cast<size_t>(4 * c.input_dim), 43);
  const auto eps = testing::normal(static_cast<size_t>(4 * c.latent_dim), 44);
  std::vector<double> gradient;
  const double loss = t->loss_and_gradient(x.data(), 4, eps.data(), &gradient);
  EXPECT_TRUE(std::isfinite(loss));
  for (size_t e = 0; e < gradient.size(); ++e) EXPECT_TRUE(std::isfinite(gradient[e])) << e;
  std::vector<float> elbo(4), reconstruction(4), kl(4);
  t->evaluate(x.data(), 4, elbo.data(), reconstruction.data(), kl.data());
  for (float e : elbo) EXPECT_TRUE(std::isfinite(e));
}

TEST(DecoderVariance, ALinearModelLearnsKnownHeteroscedasticVariances) {
  // x = a z + c + sigma * e, z and e standard normal: factor analysis, whose
  // posterior the linear encoder can express exactly, so the ELBO's optimum
  // is the maximum likelihood fit, with noise variances sigma_d^2.
  const std::vector<double> a = {0.5, -0.4, 0.3, 0.6};
  const std::vector<double> c0 = {0.5, 0.2, -0.3, 0.1};
  const std::vector<double> sigma = {0.1, 0.2, 0.3, 0.5};
  const int64_t dim = 4, rows = 4000;
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> data(static_cast<size_t>(rows * dim));
  for (int64_t r = 0; r < rows; ++r) {
    const double z = normal(rng);
    for (int64_t d = 0; d < dim; ++d) {
      const size_t i = static_cast<size_t>(d);
      data[static_cast<size_t>(r * dim + d)] =
          static_cast<float>(a[i] * z + c0[i] + sigma[i] * normal(rng));
    }
  }
  Config c = decoder_variance_config(dim, 1, {});
  c.min_log_variance = -12.0;
  c.log_variance = 0.0;
  c.max_batch = 100;
  c.learning_rate = 1e-2;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  for (int epoch = 0; epoch < 600; ++epoch) {
    if (epoch == 500) t->set_float(VAE_OPT_LEARNING_RATE, 1e-3);
    for (int64_t first = 0; first < rows; first += c.max_batch) {
      t->train_step(data.data() + first * dim, c.max_batch, nullptr);
    }
  }
  // The log variances of the decoder at z = 0 (its log-variance weights
  // should be near zero: the noise does not depend on z).
  const ParameterLayout layout(c);
  std::vector<float> p(layout.packed_total);
  t->get_parameters(p.data(), static_cast<int64_t>(p.size()));
  const LinearLayer& out = layout.decoder.back();
  for (int64_t d = 0; d < dim; ++d) {
    const size_t i = static_cast<size_t>(d);
    const double v = bounded_log_variance(
        static_cast<double>(p[out.bias + static_cast<size_t>(dim + d)]), c.min_log_variance);
    EXPECT_NEAR(v, 2 * std::log(sigma[i]), 0.25) << "dimension " << d;
    EXPECT_LT(std::fabs(p[out.weight + static_cast<size_t>(dim + d)]), 0.2) << d;
  }
}

// ---- the C API: options, refusals, checkpoints ------------------------------

class DecoderVarianceApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, 8), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LATENT_DIM, 2), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_MAX_BATCH, 4), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LIKELIHOOD, VAE_LIKELIHOOD_GAUSSIAN), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_VARIANCE, VAE_VARIANCE_DECODER), VAE_OK);
    ASSERT_EQ(vae_config_set_float(config_, VAE_OPT_MIN_LOG_VARIANCE, -6.5), VAE_OK);
    const int32_t widths[] = {5};
    ASSERT_EQ(vae_config_set_hidden_layers(config_, widths, 1), VAE_OK);
  }
  void TearDown() override { vae_config_destroy(config_); }

  static void expect_message(const char* part) {
    EXPECT_NE(std::strstr(vae_last_error(), part), nullptr)
        << "message '" << vae_last_error() << "' does not say '" << part << "'";
  }

  const vae::testing::TestDirectory scratch_{"vae_decoder_variance"};
  vae_config* config_ = nullptr;
};

TEST_F(DecoderVarianceApi, BadValuesAreRefusedAndChangeNothing) {
  for (double bad : {-30.5, 30.5, std::nan(""), HUGE_VAL}) {
    EXPECT_EQ(vae_config_set_float(config_, VAE_OPT_MIN_LOG_VARIANCE, bad),
              VAE_ERROR_INVALID_ARGUMENT);
    expect_message("VAE_OPT_MIN_LOG_VARIANCE");
  }
  EXPECT_EQ(vae_config_set_int(config_, VAE_OPT_VARIANCE, 4), VAE_ERROR_INVALID_ARGUMENT);
  vae_trainer* t = nullptr;
  // The initial log variance must exceed the bound.
  ASSERT_EQ(vae_config_set_float(config_, VAE_OPT_LOG_VARIANCE, -6.5), VAE_OK);
  EXPECT_EQ(vae_create(config_, &t), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("VAE_OPT_MIN_LOG_VARIANCE");
  EXPECT_EQ(t, nullptr);
  ASSERT_EQ(vae_config_set_float(config_, VAE_OPT_LOG_VARIANCE, 0.0), VAE_OK);
  // A Bernoulli decoder has no variance to predict.
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LIKELIHOOD, VAE_LIKELIHOOD_BERNOULLI), VAE_OK);
  EXPECT_EQ(vae_create(config_, &t), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("VAE_OPT_VARIANCE");
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LIKELIHOOD, VAE_LIKELIHOOD_GAUSSIAN), VAE_OK);
  // The bound fixes the model: a live trainer refuses it and keeps its own,
  // the value set before the refusals above.
  ASSERT_EQ(vae_create(config_, &t), VAE_OK) << vae_last_error();
  EXPECT_EQ(vae_set_float(t, VAE_OPT_MIN_LOG_VARIANCE, -2.0), VAE_ERROR_INVALID_ARGUMENT);
  double value = 0;
  EXPECT_EQ(vae_get_float(t, VAE_OPT_MIN_LOG_VARIANCE, &value), VAE_OK);
  EXPECT_EQ(value, -6.5);
  vae_destroy(t);
}

TEST_F(DecoderVarianceApi, CheckpointsKeepTheModelAndResumeExactly) {
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(config_, &t), VAE_OK) << vae_last_error();
  const auto x = testing::uniform(4 * 8, 51);
  for (int s = 0; s < 3; ++s) ASSERT_EQ(vae_train_step(t, x.data(), 4, nullptr), VAE_OK);
  const std::string path = (scratch_.path() / "decoder.safetensors").string();
  ASSERT_EQ(vae_save(t, path.c_str()), VAE_OK);
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK) << vae_last_error();
  int64_t variance = 0;
  double bound = 0;
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_VARIANCE, &variance), VAE_OK);
  EXPECT_EQ(variance, VAE_VARIANCE_DECODER);
  EXPECT_EQ(vae_get_float(loaded, VAE_OPT_MIN_LOG_VARIANCE, &bound), VAE_OK);
  EXPECT_EQ(bound, -6.5);
  for (int s = 0; s < 3; ++s) {
    float a = 0, b = 0;
    ASSERT_EQ(vae_train_step(t, x.data(), 4, &a), VAE_OK);
    ASSERT_EQ(vae_train_step(loaded, x.data(), 4, &b), VAE_OK);
    EXPECT_EQ(a, b) << "step " << s;
  }
  int64_t count = 0;
  ASSERT_EQ(vae_parameter_count(t, &count), VAE_OK);
  std::vector<float> p1(static_cast<size_t>(count)), p2(static_cast<size_t>(count));
  ASSERT_EQ(vae_get_parameters(t, p1.data(), count), VAE_OK);
  ASSERT_EQ(vae_get_parameters(loaded, p2.data(), count), VAE_OK);
  EXPECT_EQ(p1, p2);
  std::vector<float> m1(8), m2(8);
  const float z[2] = {0.5f, -0.25f};
  ASSERT_EQ(vae_decode(t, z, 1, m1.data()), VAE_OK);
  ASSERT_EQ(vae_decode(loaded, z, 1, m2.data()), VAE_OK);
  EXPECT_EQ(m1, m2);
  vae_destroy(loaded);
  vae_destroy(t);
}

TEST_F(DecoderVarianceApi, OlderCheckpointsWithoutTheBoundLoadWithTheDefault) {
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_VARIANCE, VAE_VARIANCE_LEARNED_PER_DIM), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(config_, &t), VAE_OK) << vae_last_error();
  const std::string path = (scratch_.path() / "per_dim.safetensors").string();
  ASSERT_EQ(vae_save(t, path.c_str()), VAE_OK);
  vae_destroy(t);
  SafetensorsFile file = read_safetensors(path);
  ASSERT_EQ(file.metadata.erase("VAE_OPT_MIN_LOG_VARIANCE"), 1u);
  const std::string older = (scratch_.path() / "older.safetensors").string();
  testing::write_edited_checkpoint(older, file);
  ASSERT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  double bound = 0;
  EXPECT_EQ(vae_get_float(t, VAE_OPT_MIN_LOG_VARIANCE, &bound), VAE_OK);
  EXPECT_EQ(bound, -9.0);
  vae_destroy(t);
  // A bound out of range in a file is a format error naming it.
  file.metadata["VAE_OPT_MIN_LOG_VARIANCE"] = "40";
  testing::write_edited_checkpoint(older, file);
  t = nullptr;
  EXPECT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &t), VAE_ERROR_FORMAT);
  expect_message("VAE_OPT_MIN_LOG_VARIANCE");
  EXPECT_EQ(t, nullptr);
}

}  // namespace
}  // namespace vae
