// vae_refine_posterior, the non-amortized E-step (vae.h): its gradient
// against central finite differences in double precision; on a linear
// Gaussian model, whose posterior is Gaussian with a diagonal covariance
// here, the refined parameters reach the exact posterior and the refined
// ELBO reaches the closed-form log p(x), while the encoder's ELBO matches
// its closed form; zero steps give the encoder's parameters; chunks do not
// change a row's result; nothing of the model changes; bad options are
// refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "parameter_layout.h"
#include "test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::CpuTrainerD;

// ---------------------------------------------------------------------------
// The gradient by each row's variational parameters.

struct GradientCase {
  int likelihood;
  int variance;
  int64_t samples;
};

class PosteriorGradient : public ::testing::TestWithParam<GradientCase> {};

TEST_P(PosteriorGradient, MatchesCentralFiniteDifferences) {
  const GradientCase& gc = GetParam();
  Config c = testing::small_config(9, 3, {7});
  c.likelihood = gc.likelihood;
  c.variance = gc.variance;
  c.log_variance = -0.3;
  c.samples = gc.samples;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  auto& net = t->network();
  auto& b = net.buffers();
  const int64_t n = 4, z = c.latent_dim, k = c.samples;
  const auto x = gc.likelihood == VAE_LIKELIHOOD_BERNOULLI
                     ? testing::binary(static_cast<size_t>(n * c.input_dim), 41)
                     : testing::uniform(static_cast<size_t>(n * c.input_dim), 41);
  const auto phi = testing::normal(static_cast<size_t>(n * 2 * z), 42);
  const auto eps = testing::normal(static_cast<size_t>(n * k * z), 43);
  for (size_t e = 0; e < x.size(); ++e) b.x[e] = x[e];
  for (size_t e = 0; e < phi.size(); ++e) b.enc_out.back()[e] = 0.5 * phi[e];
  NoiseSource injected;
  injected.injected = true;
  auto row_losses = [&](bool gradient) {
    for (size_t e = 0; e < eps.size(); ++e) b.eps[e] = eps[e];
    net.posterior_loss(n, k, injected, gradient);
    return std::vector<double>(b.row_loss, b.row_loss + n);
  };
  row_losses(true);
  const std::vector<double> gradient(b.d_mu_logvar, b.d_mu_logvar + n * 2 * z);
  double* p = b.enc_out.back();
  for (int64_t e = 0; e < n * 2 * z; ++e) {
    const double h = 1e-5, saved = p[e];
    p[e] = saved + h;
    const double up = row_losses(false)[static_cast<size_t>(e / (2 * z))];
    p[e] = saved - h;
    const double down = row_losses(false)[static_cast<size_t>(e / (2 * z))];
    p[e] = saved;
    const double g = gradient[static_cast<size_t>(e)];
    EXPECT_NEAR(g, (up - down) / (2 * h), 1e-7 + 1e-6 * std::fabs(g)) << "element " << e;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Likelihoods, PosteriorGradient,
    ::testing::Values(GradientCase{VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, 1},
                      GradientCase{VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, 3},
                      GradientCase{VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM, 2}));

// ---------------------------------------------------------------------------
// Through the C API.

struct TrainerDeleter {
  void operator()(vae_trainer* t) const { vae_destroy(t); }
};
using TrainerHandle = std::unique_ptr<vae_trainer, TrainerDeleter>;

// The linear Gaussian model: p(z) = N(0, I), p(x|z) = N(W z + b, s2 I), W's
// columns orthogonal, so the posterior N(m, L^-1) has the diagonal
// precision L = I + W^T W / s2 and the best diagonal Gaussian is exact.
constexpr int64_t kD = 4, kZ = 2;
constexpr double kS2 = 0.25;
const double kW[kD][kZ] = {{0.8, 0.0}, {0.8, 0.0}, {0.0, 0.6}, {0.0, -0.6}};
const double kB[kD] = {0.1, -0.2, 0.3, 0.05};

Config linear_config(int64_t max_batch) {
  Config c = testing::small_config(kD, kZ, {}, max_batch);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_FIXED;
  c.log_variance = std::log(kS2);
  return c;
}

// A trainer of the linear model whose encoder is a poor guess (small random
// weights, bias 0.3): what the refinement has to correct.
TrainerHandle linear_trainer(int64_t max_batch) {
  const Config c = linear_config(max_batch);
  vae_config* config = nullptr;
  EXPECT_EQ(vae_config_create(&config), VAE_OK);
  EXPECT_EQ(vae_config_set_int(config, VAE_OPT_INPUT_DIM, kD), VAE_OK);
  EXPECT_EQ(vae_config_set_int(config, VAE_OPT_LATENT_DIM, kZ), VAE_OK);
  EXPECT_EQ(vae_config_set_int(config, VAE_OPT_MAX_BATCH, max_batch), VAE_OK);
  EXPECT_EQ(vae_config_set_int(config, VAE_OPT_LIKELIHOOD, VAE_LIKELIHOOD_GAUSSIAN), VAE_OK);
  EXPECT_EQ(vae_config_set_float(config, VAE_OPT_LOG_VARIANCE, std::log(kS2)), VAE_OK);
  EXPECT_EQ(vae_config_set_int(config, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  EXPECT_EQ(vae_config_set_hidden_layers(config, nullptr, 0), VAE_OK);
  vae_trainer* t = nullptr;
  EXPECT_EQ(vae_create(config, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(config);
  const ParameterLayout layout(c);
  std::vector<float> p(layout.packed_total);
  const auto guess = testing::normal(layout.packed_total, 51);
  for (const NamedTensor& tensor : layout.tensors()) {
    float* values = p.data() + tensor.packed_offset;
    for (size_t e = 0; e < tensor.count; ++e) {
      if (tensor.name == "encoder.0.weight") values[e] = 0.1f * guess[tensor.packed_offset + e];
      if (tensor.name == "encoder.0.bias") values[e] = 0.3f;
      // decoder.0.weight is [D, Z], row-major as nn.Linear's.
      if (tensor.name == "decoder.0.weight") values[e] = static_cast<float>(kW[e / kZ][e % kZ]);
      if (tensor.name == "decoder.0.bias") values[e] = static_cast<float>(kB[e]);
    }
  }
  EXPECT_EQ(vae_set_parameters(t, p.data(), static_cast<int64_t>(p.size())), VAE_OK)
      << vae_last_error();
  return TrainerHandle(t);
}

double precision(int64_t j) {
  double wtw = 0;
  for (int64_t d = 0; d < kD; ++d) wtw += kW[d][j] * kW[d][j];
  return 1.0 + wtw / kS2;
}

// The exact posterior mean of row x.
std::vector<double> posterior_mean(const float* x) {
  std::vector<double> m(kZ);
  for (int64_t j = 0; j < kZ; ++j) {
    double s = 0;
    for (int64_t d = 0; d < kD; ++d) s += kW[d][j] * (x[d] - kB[d]);
    m[static_cast<size_t>(j)] = s / kS2 / precision(j);
  }
  return m;
}

// log p(x) = log N(x; b, W W^T + s2 I), by Woodbury and the determinant lemma.
double log_px(const float* x) {
  double r2 = 0, log_det = kD * std::log(kS2);
  for (int64_t d = 0; d < kD; ++d) r2 += (x[d] - kB[d]) * (x[d] - kB[d]);
  double quadratic = r2 / kS2;
  for (int64_t j = 0; j < kZ; ++j) {
    double wr = 0;
    for (int64_t d = 0; d < kD; ++d) wr += kW[d][j] * (x[d] - kB[d]);
    quadratic -= wr * wr / (kS2 * kS2 * precision(j));
    log_det += std::log(precision(j));
  }
  return -0.5 * (kD * std::log(2 * M_PI) + log_det + quadratic);
}

// The ELBO of q = N(mu, diag exp(logvar)) for row x, in closed form.
double closed_elbo(const float* x, const float* mu, const float* logvar) {
  double expected = -0.5 * kD * std::log(2 * M_PI * kS2);
  for (int64_t d = 0; d < kD; ++d) {
    double mean = kB[d];
    double spread = 0;
    for (int64_t j = 0; j < kZ; ++j) {
      mean += kW[d][j] * mu[j];
      spread += kW[d][j] * kW[d][j] * std::exp(logvar[j]);
    }
    expected -= ((x[d] - mean) * (x[d] - mean) + spread) / (2 * kS2);
  }
  double kl = 0;
  for (int64_t j = 0; j < kZ; ++j) {
    kl += 0.5 * (mu[j] * mu[j] + std::exp(logvar[j]) - 1 - logvar[j]);
  }
  return expected - kl;
}

// The standard error of an S-sample estimate of that ELBO: per sample,
// f(eps) = c - |r - A eps|^2 / (2 s2) with r = x - b - W mu, A = W diag(sigma),
// whose variance is |A^T r|^2 / s2^2 + 2 tr((A^T A)^2) / (4 s2^2) (the odd
// moments of eps vanish).
double elbo_standard_error(const float* x, const float* mu, const float* logvar, int64_t samples) {
  double r[kD], atr[kZ] = {}, ata[kZ][kZ] = {};
  for (int64_t d = 0; d < kD; ++d) {
    r[d] = x[d] - kB[d];
    for (int64_t j = 0; j < kZ; ++j) r[d] -= kW[d][j] * mu[j];
  }
  for (int64_t j = 0; j < kZ; ++j) {
    const double sj = std::exp(0.5 * logvar[j]);
    for (int64_t d = 0; d < kD; ++d) atr[j] += kW[d][j] * sj * r[d];
    for (int64_t l = 0; l < kZ; ++l) {
      for (int64_t d = 0; d < kD; ++d) {
        ata[j][l] += kW[d][j] * sj * kW[d][l] * std::exp(0.5 * logvar[l]);
      }
    }
  }
  double linear = 0, trace = 0;
  for (int64_t j = 0; j < kZ; ++j) {
    linear += atr[j] * atr[j];
    for (int64_t l = 0; l < kZ; ++l) trace += ata[j][l] * ata[l][j];
  }
  const double variance = linear / (kS2 * kS2) + 2 * trace / (4 * kS2 * kS2);
  return std::sqrt(variance / static_cast<double>(samples));
}

// KL(q || p(z|x)) for q = N(mu, diag exp(logvar)) and the exact posterior
// N(m, L^-1) of row x, L diagonal.
double kl_to_posterior(const float* x, const float* mu, const float* logvar) {
  const std::vector<double> m = posterior_mean(x);
  double kl = 0;
  for (int64_t j = 0; j < kZ; ++j) {
    const double l = precision(j), v = std::exp(logvar[j]), d = mu[j] - m[static_cast<size_t>(j)];
    kl += 0.5 * (l * v + l * d * d - 1 - std::log(l * v));
  }
  return kl;
}

struct Refined {
  std::vector<float> mu, logvar, elbo_encoder, elbo_refined;
  vae_status status;
};

Refined refine(vae_trainer* t, const std::vector<float>& x, int64_t n, const vae_refine_options& o) {
  Refined r;
  r.mu.assign(static_cast<size_t>(n * kZ), NAN);
  r.logvar = r.mu;
  r.elbo_encoder.assign(static_cast<size_t>(n), NAN);
  r.elbo_refined = r.elbo_encoder;
  vae_refine_rows out{sizeof(vae_refine_rows), r.mu.data(), r.logvar.data(),
                      r.elbo_encoder.data(), r.elbo_refined.data()};
  r.status = vae_refine_posterior(t, x.data(), n, &o, &out);
  return r;
}

vae_refine_options options(int32_t steps, int32_t samples, int32_t elbo_samples, double lr) {
  vae_refine_options o;
  EXPECT_EQ(vae_refine_options_init(&o), VAE_OK);
  o.steps = steps;
  o.samples = samples;
  o.elbo_samples = elbo_samples;
  o.learning_rate = lr;
  return o;
}

constexpr int64_t kRows = 5;

TEST(RefinePosterior, ReachesTheExactPosteriorOfALinearGaussianModel) {
  TrainerHandle t = linear_trainer(64);
  const auto x = testing::normal(static_cast<size_t>(kRows * kD), 52);
  const Refined r = refine(t.get(), x, kRows, options(12000, 64, 20000, 0.0015));
  ASSERT_EQ(r.status, VAE_OK) << vae_last_error();
  std::vector<float> mu0(static_cast<size_t>(kRows * kZ)), logvar0(mu0.size());
  ASSERT_EQ(vae_encode(t.get(), x.data(), kRows, mu0.data(), logvar0.data()), VAE_OK);
  for (int64_t i = 0; i < kRows; ++i) {
    const float* xi = x.data() + i * kD;
    const size_t at = static_cast<size_t>(i * kZ);
    // The encoder's ELBO, a Monte Carlo estimate of 20000 samples, at its
    // closed form within 4 standard errors; the encoder is far from the
    // posterior.
    EXPECT_NEAR(r.elbo_encoder[static_cast<size_t>(i)],
                closed_elbo(xi, mu0.data() + at, logvar0.data() + at),
                4 * elbo_standard_error(xi, mu0.data() + at, logvar0.data() + at, 20000))
        << "row " << i;
    EXPECT_LT(closed_elbo(xi, mu0.data() + at, logvar0.data() + at), log_px(xi) - 0.1);
    const std::vector<double> m = posterior_mean(xi);
    for (int64_t j = 0; j < kZ; ++j) {
      EXPECT_NEAR(r.mu[at + static_cast<size_t>(j)], m[static_cast<size_t>(j)], 0.015)
          << "row " << i << " latent " << j;
      EXPECT_NEAR(r.logvar[at + static_cast<size_t>(j)], -std::log(precision(j)), 0.04)
          << "row " << i << " latent " << j;
    }
    // The refined ELBO at log p(x), up to its Monte Carlo error and the
    // second-order loss of the parameters' last jitter.
    EXPECT_NEAR(r.elbo_refined[static_cast<size_t>(i)], log_px(xi),
                4 * elbo_standard_error(xi, r.mu.data() + at, r.logvar.data() + at, 20000) + 0.005)
        << "row " << i;
    EXPECT_NEAR(closed_elbo(xi, r.mu.data() + at, r.logvar.data() + at), log_px(xi), 0.005);
    // So the amortization gap is the encoder's KL(q || p(z|x)), within the
    // Monte Carlo error of the two estimates.
    const double amortization = static_cast<double>(r.elbo_refined[static_cast<size_t>(i)]) -
                                r.elbo_encoder[static_cast<size_t>(i)];
    EXPECT_NEAR(amortization, kl_to_posterior(xi, mu0.data() + at, logvar0.data() + at),
                4 * (elbo_standard_error(xi, mu0.data() + at, logvar0.data() + at, 20000) +
                     elbo_standard_error(xi, r.mu.data() + at, r.logvar.data() + at, 20000)) +
                    0.005)
        << "row " << i;
  }
}

TEST(RefinePosterior, ZeroStepsGiveTheEncodersParameters) {
  TrainerHandle t = linear_trainer(8);
  const auto x = testing::normal(static_cast<size_t>(kRows * kD), 53);
  const Refined r = refine(t.get(), x, kRows, options(0, 1, 16, 0.01));
  ASSERT_EQ(r.status, VAE_OK) << vae_last_error();
  std::vector<float> mu0(r.mu.size()), logvar0(r.mu.size());
  ASSERT_EQ(vae_encode(t.get(), x.data(), kRows, mu0.data(), logvar0.data()), VAE_OK);
  EXPECT_EQ(r.mu, mu0);
  EXPECT_EQ(r.logvar, logvar0);
  EXPECT_EQ(r.elbo_refined, r.elbo_encoder);
}

// Rows in chunks of 2 (max batch 2) or all at once: each row's noise is
// keyed by its place in the call, so the results agree up to rounding.
TEST(RefinePosterior, ChunksDoNotChangeARowsResult) {
  const auto x = testing::normal(static_cast<size_t>(kRows * kD), 54);
  const vae_refine_options o = options(40, 2, 7, 0.02);
  TrainerHandle whole = linear_trainer(8), chunked = linear_trainer(2);
  const Refined a = refine(whole.get(), x, kRows, o);
  const Refined b = refine(chunked.get(), x, kRows, o);
  ASSERT_EQ(a.status, VAE_OK) << vae_last_error();
  ASSERT_EQ(b.status, VAE_OK) << vae_last_error();
  for (size_t e = 0; e < a.mu.size(); ++e) {
    EXPECT_NEAR(a.mu[e], b.mu[e], 1e-5);
    EXPECT_NEAR(a.logvar[e], b.logvar[e], 1e-5);
  }
  for (size_t i = 0; i < a.elbo_refined.size(); ++i) {
    EXPECT_NEAR(a.elbo_refined[i], b.elbo_refined[i], 1e-4);
    EXPECT_NEAR(a.elbo_encoder[i], b.elbo_encoder[i], 1e-4);
  }
}

struct ModelState {
  explicit ModelState(vae_trainer* t) {
    int64_t count = 0;
    EXPECT_EQ(vae_parameter_count(t, &count), VAE_OK);
    parameters.resize(static_cast<size_t>(count));
    EXPECT_EQ(vae_get_parameters(t, parameters.data(), count), VAE_OK);
    for (const int option : {VAE_OPT_STEPS, VAE_OPT_SKIPPED_STEPS, VAE_OPT_EPOCHS}) {
      int64_t value = 0;
      EXPECT_EQ(vae_get_int(t, option, &value), VAE_OK);
      counters.push_back(value);
    }
  }
  bool operator==(const ModelState& o) const {
    return parameters == o.parameters && counters == o.counters;
  }
  std::vector<float> parameters;
  std::vector<int64_t> counters;
};

// A trained model (Adam's moments not zero): refining changes none of its
// parameters, moments or counters, and training afterwards takes the step
// it would have taken.
TEST(RefinePosterior, ChangesNothingOfTheModel) {
  const auto x = testing::normal(static_cast<size_t>(kRows * kD), 55);
  TrainerHandle t = linear_trainer(8), twin = linear_trainer(8);
  for (vae_trainer* m : {t.get(), twin.get()}) {
    ASSERT_EQ(vae_train_step(m, x.data(), kRows, nullptr), VAE_OK) << vae_last_error();
  }
  const ModelState before(t.get());
  ASSERT_EQ(refine(t.get(), x, kRows, options(25, 2, 5, 0.05)).status, VAE_OK);
  EXPECT_TRUE(ModelState(t.get()) == before);
  for (vae_trainer* m : {t.get(), twin.get()}) {
    ASSERT_EQ(vae_train_step(m, x.data(), kRows, nullptr), VAE_OK) << vae_last_error();
  }
  EXPECT_TRUE(ModelState(t.get()) == ModelState(twin.get()));
}

TEST(RefinePosterior, RefusesBadOptionsAndChangesNothing) {
  TrainerHandle t = linear_trainer(4);
  const auto x = testing::normal(static_cast<size_t>(kRows * kD), 56);
  const ModelState before(t.get());
  struct Bad {
    vae_refine_options o;
    const char* named;
  };
  std::vector<Bad> cases;
  const vae_refine_options good = options(3, 1, 2, 0.01);
  auto with = [&](auto change, const char* named) {
    vae_refine_options o = good;
    change(o);
    cases.push_back({o, named});
  };
  with([](vae_refine_options& o) { o.size = 8; }, "options->size");
  with([](vae_refine_options& o) { o.steps = -1; }, "steps");
  with([](vae_refine_options& o) { o.samples = 0; }, "samples");
  with([](vae_refine_options& o) { o.samples = 5; }, "samples");  // max batch 4, K 1: 4 rows
  with([](vae_refine_options& o) { o.elbo_samples = 0; }, "elbo_samples");
  with([](vae_refine_options& o) { o.learning_rate = 0; }, "learning_rate");
  with([](vae_refine_options& o) { o.learning_rate = NAN; }, "learning_rate");
  for (const Bad& bad : cases) {
    const Refined r = refine(t.get(), x, kRows, bad.o);
    EXPECT_EQ(r.status, VAE_ERROR_INVALID_ARGUMENT) << bad.named;
    EXPECT_NE(std::string(vae_last_error()).find(bad.named), std::string::npos)
        << vae_last_error();
    EXPECT_TRUE(std::isnan(r.mu[0]));  // no output written
  }
  vae_refine_rows none{sizeof(vae_refine_rows), nullptr, nullptr, nullptr, nullptr};
  EXPECT_EQ(vae_refine_posterior(t.get(), x.data(), kRows, &good, &none),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_last_error()).find("every output is NULL"), std::string::npos);
  EXPECT_EQ(vae_refine_posterior(t.get(), x.data(), kRows, nullptr, &none),
            VAE_ERROR_INVALID_ARGUMENT);
  std::vector<float> bad_x = x;
  bad_x[7] = NAN;
  EXPECT_EQ(refine(t.get(), bad_x, kRows, good).status, VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(ModelState(t.get()) == before);
}

}  // namespace
}  // namespace vae
