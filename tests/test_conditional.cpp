// The conditional VAE (VAE_OPT_CONDITION_DIM) on the CPU backend: every
// parameter's gradient against finite differences in double with a
// condition; a model given zero conditions is the unconditional model with
// the same parameters (loss, gradient, steps and every evaluation call);
// classes decode to different means; a dataset's labels and conditions
// follow their rows through an epoch's shuffle. The C API's checks of the
// conditions are in test_conditional_api.cpp; test_cuda_conditional.cpp
// compares the CUDA backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "conditional_support.h"
#include "finite_differences.h"
#include "permutation.h"
#include "philox.h"
#include "thread_ranks.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::CpuTrainerD;
using testing::CpuTrainerF;
using testing::kClasses;

TEST(Conditional, TheFirstLayersTakeTheConditionsColumns) {
  const Config c = testing::conditional_config();
  const ParameterLayout layout(c);
  EXPECT_EQ(layout.encoder.front().in, c.input_dim + kClasses);
  EXPECT_EQ(layout.decoder.front().in, c.latent_dim + kClasses);
  EXPECT_EQ(layout.encoder[1].in, 7);
  EXPECT_EQ(layout.decoder.back().out, c.input_dim);
}

TEST(Conditional, EveryGradientMatchesFiniteDifferences) {
  struct Case {
    int objective;
    int64_t prior_components;
    int likelihood;
  };
  for (const Case& k : {Case{VAE_OBJECTIVE_ELBO, 0, VAE_LIKELIHOOD_BERNOULLI},
                        Case{VAE_OBJECTIVE_IWAE, 0, VAE_LIKELIHOOD_BERNOULLI},
                        Case{VAE_OBJECTIVE_ELBO, 2, VAE_LIKELIHOOD_GAUSSIAN}}) {
    Config c = testing::small_config(5, 2, {4});
    c.condition_dim = 3;
    c.samples = 2;
    c.objective = k.objective;
    c.prior_components = k.prior_components;
    c.likelihood = k.likelihood;
    auto t = testing::make_trainer<CpuTrainerD>(c);
    const int64_t n = 3;
    const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 51);
    const auto condition = testing::uniform(static_cast<size_t>(n * c.condition_dim), 52, -1, 1);
    const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 53);
    SCOPED_TRACE(k.objective * 10 + k.prior_components);
    testing::expect_gradient_matches_differences(*t, x, n, eps, condition.data());
  }
}

// A relative comparison of arrays that two computations in double give
// alike to float rounding (the outputs are floats).
void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t e = 0; e < got.size(); ++e) {
    EXPECT_NEAR(got[e], want[e], 1e-6 * std::max(1.0f, std::fabs(want[e]))) << what << " " << e;
  }
}

TEST(Conditional, ZeroConditionsAreTheUnconditionalModel) {
  Config wide = testing::conditional_config();
  wide.samples = 2;
  Config plain = wide;
  plain.condition_dim = 0;
  auto u = testing::make_trainer<CpuTrainerD>(plain);
  auto t = testing::make_trainer<CpuTrainerD>(wide);
  const std::vector<float> p = testing::parameters_of(*u);
  // The extra columns are far from zero: only the zero conditions hide them.
  const std::vector<float> q = testing::widened_parameters(wide, p, -2.0f, 2.0f, 61);
  t->set_parameters(q.data(), static_cast<int64_t>(q.size()));

  const int64_t n = 5;
  const auto x = testing::uniform(static_cast<size_t>(n * wide.input_dim), 62);
  const std::vector<float> zeros(static_cast<size_t>(n * kClasses), 0.0f);
  const auto eps = testing::normal(static_cast<size_t>(n * wide.samples * wide.latent_dim), 63);
  std::vector<double> gu, gt;
  const double lu = u->loss_and_gradient(x.data(), n, eps.data(), &gu);
  const double lt = t->loss_and_gradient(x.data(), n, eps.data(), &gt, zeros.data());
  EXPECT_NEAR(lt, lu, 1e-12 * std::fabs(lu));
  // The gradient of the shared parameters is the same, that of the
  // condition's columns zero.
  const std::vector<double> widened = testing::widened_parameters(wide, gu, 0.0f, 0.0f, 64);
  for (size_t e = 0; e < gt.size(); ++e) {
    EXPECT_NEAR(gt[e], widened[e], 1e-12 * std::max(1.0, std::fabs(gt[e]))) << e;
  }

  for (uint32_t step = 0; step < 3; ++step) {
    const auto noise = testing::normal(eps.size(), 70 + step);
    float a = 0, b = 0;
    u->train_step_with_noise(x.data(), n, noise.data(), &a);
    t->train_step_with_noise(x.data(), n, noise.data(), &b, zeros.data());
    EXPECT_NEAR(b, a, 1e-6 * std::fabs(a)) << step;
  }
  // The shared parameters moved alike, and Adam left the condition's
  // columns where they were: their gradient was 0.
  expect_close(testing::parameters_of(*t),
               testing::widened_parameters(wide, testing::parameters_of(*u), -2.0f, 2.0f, 61),
               "parameters after the steps");

  const size_t rows = static_cast<size_t>(n);
  std::vector<float> e1(rows), r1(rows), k1(rows), e2(rows), r2(rows), k2(rows);
  u->evaluate(x.data(), n, e1.data(), r1.data(), k1.data());
  t->evaluate(x.data(), n, e2.data(), r2.data(), k2.data(), zeros.data());
  expect_close(e2, e1, "elbo");
  expect_close(r2, r1, "reconstruction");
  expect_close(k2, k1, "kl");
  for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
    u->log_likelihood(x.data(), n, 7, estimator, e1.data());
    t->log_likelihood(x.data(), n, 7, estimator, e2.data(), zeros.data());
    expect_close(e2, e1, "log p(x)");
  }
  const size_t zc = rows * static_cast<size_t>(wide.latent_dim);
  std::vector<float> mu1(zc), lv1(zc), mu2(zc), lv2(zc);
  u->encode(x.data(), n, mu1.data(), lv1.data());
  t->encode(x.data(), n, mu2.data(), lv2.data(), zeros.data());
  expect_close(mu2, mu1, "mu");
  expect_close(lv2, lv1, "logvar");
  const size_t xc = rows * static_cast<size_t>(wide.input_dim);
  std::vector<float> m1(xc), m2(xc);
  u->decode(mu1.data(), n, m1.data());
  t->decode(mu1.data(), n, m2.data(), zeros.data());
  expect_close(m2, m1, "decode");
  u->sample(n, m1.data());
  t->sample(n, m2.data(), zeros.data());
  expect_close(m2, m1, "sample");
  RefineSettings s;
  s.steps = 5;
  s.samples = 2;
  s.elbo_samples = 3;
  s.learning_rate = 0.05;
  u->refine_posterior(x.data(), n, s, mu1.data(), lv1.data(), e1.data(), r1.data());
  t->refine_posterior(x.data(), n, s, mu2.data(), lv2.data(), e2.data(), r2.data(), zeros.data());
  expect_close(mu2, mu1, "refined mu");
  expect_close(r2, r1, "refined elbo");
}

// max |a - b| over two arrays of equal size.
float largest_difference(const float* a, const float* b, size_t count) {
  float d = 0;
  for (size_t e = 0; e < count; ++e) d = std::max(d, std::fabs(a[e] - b[e]));
  return d;
}

TEST(Conditional, ClassesDecodeAndEncodeDifferently) {
  const Config c = testing::conditional_config();
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const auto params = testing::uniform(ParameterLayout(c).packed_total, 81, -1.0f, 1.0f);
  t->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  // One latent point and one data row under each class.
  const auto z1 = testing::normal(static_cast<size_t>(c.latent_dim), 82);
  const auto x1 = testing::uniform(static_cast<size_t>(c.input_dim), 83);
  std::vector<float> z, x;
  std::vector<uint8_t> classes;
  for (uint8_t k = 0; k < kClasses; ++k) {
    z.insert(z.end(), z1.begin(), z1.end());
    x.insert(x.end(), x1.begin(), x1.end());
    classes.push_back(k);
  }
  const std::vector<float> condition = testing::one_hot(classes, kClasses);
  const auto D = static_cast<size_t>(c.input_dim), Z = static_cast<size_t>(c.latent_dim);
  std::vector<float> means(kClasses * D), mu(kClasses * Z), logvar(kClasses * Z);
  t->decode(z.data(), kClasses, means.data(), condition.data());
  t->encode(x.data(), kClasses, mu.data(), logvar.data(), condition.data());
  for (size_t a = 0; a < kClasses; ++a) {
    for (size_t b = a + 1; b < kClasses; ++b) {
      EXPECT_GT(largest_difference(&means[a * D], &means[b * D], D), 1e-3f) << a << " " << b;
      EXPECT_GT(largest_difference(&mu[a * Z], &mu[b * Z], Z), 1e-3f) << a << " " << b;
    }
  }
  // Each row's own condition: decoding the rows one by one gives the same.
  std::vector<float> one(D);
  for (size_t k = 0; k < kClasses; ++k) {
    t->decode(&z[k * Z], 1, one.data(), &condition[k * kClasses]);
    EXPECT_EQ(largest_difference(one.data(), &means[k * D], D), 0.0f) << k;
  }
}

// An epoch over a dataset with labels takes the steps of vae_train_step on
// the rows in the epoch's order with their one-hot conditions, bit for bit;
// one-hot float conditions (vae_dataset_set_conditions) do the same.
TEST(Conditional, AnEpochsConditionsFollowTheirRows) {
  Config c = testing::conditional_config();
  c.max_batch = 4;
  const int64_t n = 10, batch = 4;
  const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 91);
  const std::vector<uint8_t> labels = testing::labels_of(n, kClasses, 92);
  const std::vector<float> condition = testing::one_hot(labels, kClasses);

  auto by_labels = testing::make_trainer<CpuTrainerF>(c);
  auto ds = by_labels->create_dataset(x.data(), n);
  by_labels->set_dataset_labels(*ds, labels.data(), n);
  float epoch_loss = 0;
  by_labels->train_epoch(*ds, batch, &epoch_loss);

  auto by_floats = testing::make_trainer<CpuTrainerF>(c);
  auto ds2 = by_floats->create_dataset(x.data(), n);
  by_floats->set_dataset_conditions(*ds2, condition.data(), n);
  by_floats->train_epoch(*ds2, batch, nullptr);
  EXPECT_EQ(testing::parameters_of(*by_floats), testing::parameters_of(*by_labels));

  std::vector<int64_t> order(static_cast<size_t>(n));
  epoch_permutation(NoiseKey{static_cast<uint64_t>(c.seed), 0, NoiseStream::kShuffle, 0}, n,
                    order.data());
  auto by_steps = testing::make_trainer<CpuTrainerF>(c);
  double loss_sum = 0;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t rows = std::min(batch, n - first);
    std::vector<float> xb, cb;
    for (int64_t i = first; i < first + rows; ++i) {
      const auto r = static_cast<size_t>(order[static_cast<size_t>(i)]);
      xb.insert(xb.end(), x.begin() + static_cast<std::ptrdiff_t>(r * c.input_dim),
                x.begin() + static_cast<std::ptrdiff_t>((r + 1) * c.input_dim));
      cb.insert(cb.end(), condition.begin() + static_cast<std::ptrdiff_t>(r * kClasses),
                condition.begin() + static_cast<std::ptrdiff_t>((r + 1) * kClasses));
    }
    float loss = 0;
    by_steps->train_step(xb.data(), rows, &loss, cb.data());
    loss_sum += static_cast<double>(loss) * static_cast<double>(rows);
  }
  EXPECT_EQ(testing::parameters_of(*by_steps), testing::parameters_of(*by_labels));
  EXPECT_NEAR(epoch_loss, loss_sum / static_cast<double>(n), 1e-5 * std::fabs(epoch_loss));

  // The evaluations of the dataset are those of its rows with their
  // conditions (on a trainer in the same state, drawing the same noise).
  double elbo_dataset = 0;
  by_labels->evaluate_dataset(*ds, &elbo_dataset, nullptr, nullptr);
  std::vector<float> elbo(static_cast<size_t>(n));
  by_floats->evaluate(x.data(), n, elbo.data(), nullptr, nullptr, condition.data());
  double sum = 0;
  for (float e : elbo) sum += e;
  EXPECT_NEAR(elbo_dataset, sum / static_cast<double>(n), 1e-5 * std::fabs(elbo_dataset));
  double log_px_dataset = 0;
  by_labels->log_likelihood_dataset(*ds, 9, VAE_ESTIMATOR_IMPORTANCE, &log_px_dataset);
  by_floats->log_likelihood(x.data(), n, 9, VAE_ESTIMATOR_IMPORTANCE, elbo.data(),
                            condition.data());
  sum = 0;
  for (float e : elbo) sum += e;
  EXPECT_NEAR(log_px_dataset, sum / static_cast<double>(n), 1e-5 * std::fabs(log_px_dataset));
}

// Two ranks sharing steps (vae_set_allreduce), each with its half of the
// rows and their conditions, and an epoch over datasets with labels: the
// one-process steps and epoch, to float rounding (the sums' order differs).
TEST(Conditional, RanksSharingStepsTakeTheirRowsConditions) {
  Config c = testing::conditional_config();
  c.samples = 2;
  constexpr int64_t kHalf = 3;
  testing::ThreadRanks ranks(2);
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  for (int r = 0; r < 2; ++r) {
    Config rank = c;
    rank.world_size = 2;
    rank.rank = r;
    t.push_back(testing::make_trainer<CpuTrainerF>(rank));
    t[static_cast<size_t>(r)]->set_allreduce(&testing::ThreadRanks::hook, ranks.member(r));
  }
  auto whole = testing::make_trainer<CpuTrainerF>(c);
  const int64_t n = 2 * kHalf;
  for (uint32_t step = 0; step < 3; ++step) {
    const auto x = testing::uniform(static_cast<size_t>(n * c.input_dim), 100 + step);
    const auto condition = testing::one_hot(testing::labels_of(n, kClasses, 110 + step), kClasses);
    float loss[2] = {0, 0}, whole_loss = 0;
    ranks.run([&](int r) {
      t[static_cast<size_t>(r)]->train_step(x.data() + r * kHalf * c.input_dim, kHalf, &loss[r],
                                            condition.data() + r * kHalf * kClasses);
    });
    whole->train_step(x.data(), n, &whole_loss, condition.data());
    EXPECT_EQ(loss[0], loss[1]);
    EXPECT_NEAR(loss[0], whole_loss, 1e-5 * std::fabs(whole_loss)) << step;
  }
  const int64_t rows = 13;
  const auto x = testing::uniform(static_cast<size_t>(rows * c.input_dim), 120);
  const std::vector<uint8_t> labels = testing::labels_of(rows, kClasses, 121);
  std::vector<std::unique_ptr<Dataset>> ds;
  for (auto& rank : t) {
    ds.push_back(rank->create_dataset(x.data(), rows));
    rank->set_dataset_labels(*ds.back(), labels.data(), rows);
  }
  auto whole_ds = whole->create_dataset(x.data(), rows);
  whole->set_dataset_labels(*whole_ds, labels.data(), rows);
  float mean[2] = {0, 0}, whole_mean = 0;
  ranks.run([&](int r) {
    t[static_cast<size_t>(r)]->train_epoch(*ds[static_cast<size_t>(r)], n, &mean[r]);
  });
  whole->train_epoch(*whole_ds, n, &whole_mean);
  EXPECT_EQ(mean[0], mean[1]);
  EXPECT_NEAR(mean[0], whole_mean, 1e-5 * std::fabs(whole_mean));
}

}  // namespace
}  // namespace vae
