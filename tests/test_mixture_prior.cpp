// The learned mixture-of-Gaussians prior (VAE_OPT_PRIOR_COMPONENTS) on the
// CPU backend: its log density against a direct sum, its draws, one
// component at the origin against the standard prior's sampled-KL losses,
// every gradient (the prior's parameters included) against finite
// differences in double precision, the estimators against quadrature with a
// two-component prior, and the option's refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "mixture_prior.h"
#include "test_support.h"
#include "thread_ranks.h"

namespace vae {
namespace {

using testing::CpuTrainerD;

// The prior's three tensors, K components of Z latents.
struct PriorValues {
  std::vector<double> means, log_variances, logits;

  PriorValues(int64_t k, int64_t z, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> spread(-0.6, 0.6);
    for (int64_t e = 0; e < k * z; ++e) {
      means.push_back(normal(rng));
      log_variances.push_back(spread(rng));
    }
    for (int64_t e = 0; e < k; ++e) logits.push_back(spread(rng));
  }

  MixturePrior<double> view(int64_t z) const {
    MixturePrior<double> p;
    p.means = means.data();
    p.log_variances = log_variances.data();
    p.logits = logits.data();
    p.components = static_cast<int64_t>(logits.size());
    p.latent = z;
    return p;
  }

  // Into a double trainer's parameters.
  void write(CpuTrainerD& t) const {
    const ParameterLayout& l = t.network().layout();
    double* p = t.network().buffers().params;
    std::copy(means.begin(), means.end(), p + l.prior_means);
    std::copy(log_variances.begin(), log_variances.end(), p + l.prior_log_variances);
    std::copy(logits.begin(), logits.end(), p + l.prior_logits);
  }
};

// log sum_k pi_k prod_j N(z_j; m_kj, e^v_kj), summed directly in long double.
long double direct_log_density(const PriorValues& v, const std::vector<double>& z) {
  const auto k_count = static_cast<int64_t>(v.logits.size());
  const auto latent = static_cast<int64_t>(z.size());
  long double normalizer = 0, density = 0;
  for (double a : v.logits) normalizer += std::exp(static_cast<long double>(a));
  for (int64_t k = 0; k < k_count; ++k) {
    long double component = std::exp(static_cast<long double>(v.logits[static_cast<size_t>(k)])) / normalizer;
    for (int64_t j = 0; j < latent; ++j) {
      const long double var = std::exp(static_cast<long double>(v.log_variances[static_cast<size_t>(k * latent + j)]));
      const long double d = z[static_cast<size_t>(j)] - v.means[static_cast<size_t>(k * latent + j)];
      component *= std::exp(-d * d / (2 * var)) / std::sqrt(2 * static_cast<long double>(M_PI) * var);
    }
    density += component;
  }
  return std::log(density);
}

TEST(MixturePriorMath, LogDensityMatchesDirectSumAndItsGradient) {
  const int64_t K = 3, Z = 4;
  const PriorValues v(K, Z, 7);
  const MixturePrior<double> prior = v.view(Z);
  std::mt19937 rng(8);
  std::normal_distribution<double> normal(0.0, 1.5);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> z(Z);
    for (double& e : z) e = normal(rng);
    std::vector<double> resp(K);
    // Relative: the density leaves out -Z/2 log 2 pi.
    const double log_p = prior.log_density(z.data(), resp.data()) - 0.5 * Z * std::log(2 * M_PI);
    EXPECT_NEAR(log_p, static_cast<double>(direct_log_density(v, z)), 1e-12 * (1 + std::fabs(log_p)));
    double total = 0;
    for (double r : resp) total += r;
    EXPECT_NEAR(total, 1.0, 1e-14);
    for (int64_t j = 0; j < Z; ++j) {
      const double h = 1e-6;
      std::vector<double> up = z, down = z;
      up[static_cast<size_t>(j)] += h;
      down[static_cast<size_t>(j)] -= h;
      const double fd = -(prior.log_density(up.data(), nullptr) - prior.log_density(down.data(), nullptr)) / (2 * h);
      EXPECT_NEAR(prior.neg_log_density_grad(z.data(), resp.data(), j), fd, 1e-7);
    }
  }
}

// Draws of the mixture: components at -10, 0 and 10 with small variances,
// so each draw's component is plain; the counts follow pi and each
// component's draws its mean and variance.
TEST(MixturePriorMath, DrawsFollowTheMixture) {
  const int64_t K = 3, Z = 1, rows = 60000;
  PriorValues v(K, Z, 9);
  v.means = {-10, 0, 10};
  v.log_variances = {std::log(0.25), 0.0, std::log(0.04)};
  v.logits = {0.0, std::log(2.0), std::log(3.0)};  // pi = 1/6, 2/6, 3/6
  CpuOps<double> ops(2);
  std::vector<double> z(static_cast<size_t>(rows));
  const NoiseKey normal{5, 3, NoiseStream::kPrior, 0};
  ops.standard_normal(normal, rows, z.data());
  ops.prior_sample(v.view(Z), mixture_component_key(normal), rows, z.data());
  double count[3] = {}, sum[3] = {}, squares[3] = {};
  for (double e : z) {
    const int k = e < -5 ? 0 : e < 5 ? 1 : 2;
    count[k] += 1;
    sum[k] += e;
    squares[k] += e * e;
  }
  const double pi[3] = {1.0 / 6, 2.0 / 6, 3.0 / 6};
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(count[k] / rows, pi[k], 0.01) << k;
    const double mean = sum[k] / count[k];
    EXPECT_NEAR(mean, v.means[static_cast<size_t>(k)], 0.03) << k;
    EXPECT_NEAR(squares[k] / count[k] - mean * mean, std::exp(v.log_variances[static_cast<size_t>(k)]),
                0.05 * std::exp(v.log_variances[static_cast<size_t>(k)])) << k;
  }
}

// One component at mean 0, log variance 0 is N(0, I): the losses and
// gradients equal those of the standard prior's sampled KL (its IWAE
// objective; with one sample, the mixture's ELBO too), bit for bit.
TEST(MixturePrior, OneComponentAtTheOriginIsTheStandardPriorsSampledKl) {
  const int64_t n = 5;
  for (const int64_t samples : {1, 3}) {
    for (const int objective : {VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE}) {
      if (objective == VAE_OBJECTIVE_ELBO && samples > 1) continue;  // the means differ
      Config standard = testing::small_config();
      standard.samples = samples;
      standard.objective = VAE_OBJECTIVE_IWAE;
      standard.kl_weight = 0.7;
      Config mixture = standard;
      mixture.objective = objective;
      mixture.prior_components = 1;
      auto a = testing::make_trainer<CpuTrainerD>(standard);
      auto b = testing::make_trainer<CpuTrainerD>(mixture);
      const auto x = testing::binary(static_cast<size_t>(n * standard.input_dim), 11);
      const auto eps = testing::normal(static_cast<size_t>(n * samples * standard.latent_dim), 12);
      std::vector<double> ga, gb;
      a->loss_and_gradient(x.data(), n, eps.data(), &ga);
      b->loss_and_gradient(x.data(), n, eps.data(), &gb);
      const double la = a->network().buffers().loss[0], lb = b->network().buffers().loss[0];
      EXPECT_EQ(lb, la) << samples << " " << objective;
      ASSERT_EQ(gb.size(), ga.size() + 2 * 3 + 1);
      for (size_t e = 0; e < ga.size(); ++e) ASSERT_EQ(gb[e], ga[e]) << e;
    }
  }
}

// The same at evaluation, in float: the importance weights, the prior
// estimator's draws (m + e^(v/2) eps = eps), vae_sample and the
// reconstruction term are the standard prior's bit for bit; the ELBO's KL is
// the mean sampled KL, not the analytic one.
TEST(MixturePrior, OneComponentAtTheOriginEvaluatesAsTheStandardPrior) {
  Config standard = testing::small_config();
  standard.samples = 4;
  Config mixture = standard;
  mixture.prior_components = 1;
  auto a = testing::make_trainer<testing::CpuTrainerF>(standard);
  auto b = testing::make_trainer<testing::CpuTrainerF>(mixture);
  const int64_t n = 7;
  const auto x = testing::binary(static_cast<size_t>(n * standard.input_dim), 14);
  for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
    std::vector<float> la(n), lb(n);
    a->log_likelihood(x.data(), n, 50, estimator, la.data());
    b->log_likelihood(x.data(), n, 50, estimator, lb.data());
    EXPECT_EQ(la, lb) << estimator;
  }
  std::vector<float> sa(static_cast<size_t>(9 * standard.input_dim)), sb(sa.size());
  a->sample(9, sa.data());
  b->sample(9, sb.data());
  EXPECT_EQ(sa, sb);
  std::vector<float> ea(n), eb(n), ra(n), rb(n), ka(n), kb(n);
  a->evaluate(x.data(), n, ea.data(), ra.data(), ka.data());
  b->evaluate(x.data(), n, eb.data(), rb.data(), kb.data());
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ka, kb);
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) EXPECT_NEAR(kb[i], ka[i], 1.5) << i;
}

struct PriorCase {
  std::string name;
  int likelihood;
  int variance;
  int objective;
  int64_t samples;
  int64_t components;
  double beta;
};

void PrintTo(const PriorCase& c, std::ostream* os) { *os << c.name; }

class PriorGradients : public ::testing::TestWithParam<PriorCase> {};

TEST_P(PriorGradients, MatchCentralFiniteDifferences) {
  const PriorCase& pc = GetParam();
  Config c = testing::small_config();
  c.likelihood = pc.likelihood;
  c.variance = pc.variance;
  c.objective = pc.objective;
  c.samples = pc.samples;
  c.kl_weight = pc.beta;
  c.prior_components = pc.components;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  PriorValues(pc.components, c.latent_dim, 13).write(*t);
  const int64_t n = 5;
  const auto& layout = t->network().layout();
  double* params = t->network().buffers().params;
  const std::vector<float> x = pc.likelihood == VAE_LIKELIHOOD_BERNOULLI
                                   ? testing::binary(static_cast<size_t>(n * c.input_dim), 21)
                                   : testing::uniform(static_cast<size_t>(n * c.input_dim), 21);
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 22);
  std::vector<double> gradient, unused;
  t->loss_and_gradient(x.data(), n, eps.data(), &gradient);
  ASSERT_EQ(gradient.size(), layout.packed_total);
  auto loss_at = [&](size_t e, double value) {
    const double saved = params[e];
    params[e] = value;
    t->loss_and_gradient(x.data(), n, eps.data(), &unused);
    params[e] = saved;
    return t->network().buffers().loss[0];
  };
  std::mt19937 rng(5);
  int prior_checked = 0;
  for (const NamedTensor& tensor : layout.tensors()) {
    const bool of_prior = tensor.name.rfind("prior.", 0) == 0;
    const size_t trials = of_prior ? tensor.count : 4;  // every element of the prior's
    std::uniform_int_distribution<size_t> pick(0, tensor.count - 1);
    for (size_t trial = 0; trial < trials; ++trial) {
      const size_t i = of_prior ? trial : pick(rng), e = tensor.offset + i;
      const double h = 1e-5;
      const double fd = (loss_at(e, params[e] + h) - loss_at(e, params[e] - h)) / (2 * h);
      EXPECT_NEAR(gradient[tensor.packed_offset + i], fd, 1e-7 + 1e-6 * std::fabs(fd))
          << tensor.name << " element " << i;
      if (of_prior) ++prior_checked;
    }
  }
  EXPECT_EQ(prior_checked, pc.components * (2 * c.latent_dim + 1));
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PriorGradients,
    ::testing::Values(
        PriorCase{"BernoulliElboK1C2", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 1, 2, 1.0},
        PriorCase{"BernoulliElboK3C3BetaHalf", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 3, 3, 0.5},
        PriorCase{"BernoulliIwaeK4C2", VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_IWAE, 4, 2, 1.0},
        PriorCase{"GaussianSharedElboK2C1", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_SHARED, VAE_OBJECTIVE_ELBO, 2, 1, 1.0},
        PriorCase{"GaussianPerDimIwaeK2C4", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM, VAE_OBJECTIVE_IWAE, 2, 4, 2.0},
        // With the decoder's own variance (VAE_VARIANCE_DECODER).
        PriorCase{"GaussianDecoderElboK2C3", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_DECODER, VAE_OBJECTIVE_ELBO, 2, 3, 1.0},
        PriorCase{"GaussianDecoderIwaeK3C2", VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_DECODER, VAE_OBJECTIVE_IWAE, 3, 2, 1.0}),
    [](const ::testing::TestParamInfo<PriorCase>& param_info) { return param_info.param.name; });

// A one-dimensional latent under a two-component prior: log p(x) =
// log \int p(x|z) p(z) dz by quadrature, against both estimators.
TEST(MixturePrior, EstimatorsAgreeWithQuadrature) {
  const int64_t kDim = 10, kRows = 4;
  Config c = testing::small_config(kDim, 1, {16}, 128);
  c.samples = 32;
  c.learning_rate = 3e-3;
  c.prior_components = 2;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  PriorValues start(2, 1, 3);
  start.means = {-1.5, 1.0};
  start.log_variances = {-0.5, 0.3};
  start.logits = {0.2, -0.4};
  start.write(*t);
  const auto data = testing::two_patterns(128, kDim, 41);
  for (int step = 0; step < 150; ++step) t->train_step(data.data(), 128, nullptr);
  const auto x = testing::two_patterns(kRows, kDim, 42);

  auto& net = t->network();
  auto& b = net.buffers();
  const MixturePrior<double> prior = net.prior();
  auto exact_log_px = [&](int64_t row) {
    for (int64_t d = 0; d < kDim; ++d) b.x[d] = x[static_cast<size_t>(row * kDim + d)];
    const int64_t nodes = 24001;
    const double lo = -12, hi = 12, h = (hi - lo) / static_cast<double>(nodes - 1);
    std::vector<double> terms;
    for (int64_t first = 0; first < nodes; first += net.max_rows()) {
      const int64_t count = std::min(net.max_rows(), nodes - first);
      for (int64_t i = 0; i < count; ++i) b.z[i] = lo + h * static_cast<double>(first + i);
      net.decode(count, 1);
      t->ops().likelihood_forward(net.likelihood(), nullptr, b.dec_out.back(), b.x, count, 1, kDim,
                                  b.nll, nullptr, 1.0);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t node = first + i;
        const double weight = (node == 0 || node == nodes - 1) ? 0.5 : 1.0;
        const double log_prior = prior.log_density(&b.z[i], nullptr) - 0.5 * std::log(2 * M_PI);
        terms.push_back(-b.nll[i] + log_prior + std::log(weight * h));
      }
    }
    const double top = *std::max_element(terms.begin(), terms.end());
    double sum = 0;
    for (double v : terms) sum += std::exp(v - top);
    return top + std::log(sum);
  };
  std::vector<float> importance(kRows), from_prior(kRows);
  t->log_likelihood(x.data(), kRows, 20000, VAE_ESTIMATOR_IMPORTANCE, importance.data());
  t->log_likelihood(x.data(), kRows, 200000, VAE_ESTIMATOR_PRIOR, from_prior.data());
  for (int64_t r = 0; r < kRows; ++r) {
    const double exact = exact_log_px(r);
    EXPECT_NEAR(importance[static_cast<size_t>(r)], exact, 0.02) << "row " << r;
    EXPECT_NEAR(from_prior[static_cast<size_t>(r)], exact, 0.05) << "row " << r;
  }
}

// Two ranks at half the batch (vae_set_allreduce) against one process at
// the whole batch: the prior's gradient is a mean over the batch's rows like
// every other, so one step moves its parameters alike, to the order of the
// sums, and the ranks stay bit-identical.
TEST(MixturePrior, TwoRanksAtHalfTheBatchMatchOneProcess) {
  constexpr int64_t kHalf = 3;
  Config c = testing::small_config(12, 3, {7, 5}, 2 * kHalf);
  c.samples = 2;
  c.prior_components = 3;
  testing::ThreadRanks ranks(2);
  std::vector<std::unique_ptr<testing::CpuTrainerF>> t;
  for (int r = 0; r < 2; ++r) {
    Config rc = c;
    rc.world_size = 2;
    rc.rank = r;
    t.push_back(testing::make_trainer<testing::CpuTrainerF>(rc));
    t.back()->set_allreduce(&testing::ThreadRanks::hook, ranks.member(r));
  }
  auto whole = testing::make_trainer<testing::CpuTrainerF>(c);
  const auto start = whole->read_state(StateBuffer::kParameters);
  const auto x = testing::binary(2 * kHalf * 12, 300);
  float loss[2] = {0, 0}, whole_loss = 0;
  ranks.run([&](int r) { t[r]->train_step(x.data() + r * kHalf * 12, kHalf, &loss[r]); });
  whole->train_step(x.data(), 2 * kHalf, &whole_loss);
  EXPECT_EQ(loss[0], loss[1]);
  EXPECT_NEAR(loss[0], whole_loss, 1e-5 * std::fabs(whole_loss));
  const auto p0 = t[0]->read_state(StateBuffer::kParameters);
  EXPECT_EQ(p0, t[1]->read_state(StateBuffer::kParameters));
  const auto pw = whole->read_state(StateBuffer::kParameters);
  const ParameterLayout packed(c);
  for (size_t e = packed.prior_means; e < packed.packed_total; ++e) {
    EXPECT_NE(pw[e], start[e]) << e;  // Adam moved every prior parameter
    EXPECT_NEAR(p0[e], pw[e], 1e-6) << e;
  }
}

void expect_message(const char* part) {
  EXPECT_NE(std::strstr(vae_last_error(), part), nullptr)
      << "message '" << vae_last_error() << "' does not say '" << part << "'";
}

TEST(MixturePriorOption, RangeIsCheckedAndTheStructureFixed) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, 6), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, 2), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  for (const int64_t bad : {int64_t{-1}, int64_t{1025}}) {
    EXPECT_EQ(vae_config_set_int(c, VAE_OPT_PRIOR_COMPONENTS, bad), VAE_ERROR_INVALID_ARGUMENT);
    expect_message("VAE_OPT_PRIOR_COMPONENTS must be in [0, 1024]");
  }
  EXPECT_EQ(vae_config_set_float(c, VAE_OPT_PRIOR_COMPONENTS, 2.5), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("VAE_OPT_PRIOR_COMPONENTS takes an integer");
  // Nothing changed: the default, 0, and no prior tensors.
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  int64_t k = -1, count0 = 0;
  EXPECT_EQ(vae_get_int(t, VAE_OPT_PRIOR_COMPONENTS, &k), VAE_OK);
  EXPECT_EQ(k, 0);
  ASSERT_EQ(vae_parameter_count(t, &count0), VAE_OK);
  vae_destroy(t);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_PRIOR_COMPONENTS, 3), VAE_OK);
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  int64_t count3 = 0;
  ASSERT_EQ(vae_parameter_count(t, &count3), VAE_OK);
  EXPECT_EQ(count3, count0 + 3 * (2 * 2 + 1));
  // Not live: a trainer refuses it and keeps its prior.
  EXPECT_EQ(vae_set_int(t, VAE_OPT_PRIOR_COMPONENTS, 2), VAE_ERROR_INVALID_ARGUMENT);
  expect_message("fixes the model's structure");
  EXPECT_EQ(vae_get_int(t, VAE_OPT_PRIOR_COMPONENTS, &k), VAE_OK);
  EXPECT_EQ(k, 3);
  vae_destroy(t);
  // The responsibilities' buffer stays below 2^31 elements.
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 1 << 20), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_SAMPLES, 4), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_PRIOR_COMPONENTS, 1024), VAE_OK);
  t = nullptr;
  EXPECT_EQ(vae_create(c, &t), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(t, nullptr);
  expect_message("max_batch * samples * components");
  vae_config_destroy(c);
}

}  // namespace
}  // namespace vae
