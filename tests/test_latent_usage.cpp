// vae_latent_usage on models whose encoder one can reason about (a linear
// encoder, tests/linear_vae.h): latents whose posterior is the prior have KL
// 0 and activity 0 and are inactive; the KL and activity of the others equal
// their closed forms from the encoder's affine map in double precision; an
// encoder that ignores x has I_q(x; z) = 0, and one that sends two halves of
// the data to far-apart points has I_q(x; z) = log 2. On a trained
// non-linear model the per-dimension figures equal a second computation
// from vae_encode's outputs, and the estimate of I_q a direct one from the
// same draws. Bad arguments change nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "linear_vae.h"
#include "philox.h"
#include "test_support.h"
#include "vae/vae.h"

namespace {

using vae::testing::LinearVae;

struct Usage {
  std::vector<double> kl, activity;
  vae_latent_usage_result r{};
};

Usage usage_of(vae_trainer* t, vae_dataset* ds, int64_t latent, const vae_latent_usage_options& o) {
  Usage u;
  u.kl.assign(static_cast<size_t>(latent), -1);
  u.activity.assign(static_cast<size_t>(latent), -1);
  u.r.size = sizeof u.r;
  u.r.kl = u.kl.data();
  u.r.activity = u.activity.data();
  EXPECT_EQ(vae_latent_usage(t, ds, &o, &u.r), VAE_OK) << vae_last_error();
  return u;
}

vae_latent_usage_options defaults() {
  vae_latent_usage_options o;
  EXPECT_EQ(vae_latent_usage_options_init(&o), VAE_OK);
  return o;
}

TEST(LatentUsage, ClosedFormsOfALinearEncoder) {
  constexpr int64_t kDim = 5, kLatent = 4, kRows = 300;
  LinearVae m(kDim, kLatent);
  const auto w = vae::testing::uniform(kDim, 3, -1.0f, 1.0f);
  for (int64_t d = 0; d < kDim; ++d) {
    m.mu_weight(0, d) = w[static_cast<size_t>(d)];
    m.mu_weight(1, d) = 0.02 * w[static_cast<size_t>(kDim - 1 - d)];  // activity ~ 1e-4
    m.logvar_weight(0, d) = 0.3 * w[static_cast<size_t>(d)];
  }
  m.mu_bias(0) = 0.4;
  m.mu_bias(1) = -0.7;
  m.logvar_bias(0) = -1.5;
  m.logvar_bias(1) = -0.5;  // latents 2 and 3: the prior, whatever x
  vae_trainer* t = m.make(VAE_BACKEND_CPU);
  ASSERT_NE(t, nullptr);
  const auto x = vae::testing::uniform(static_cast<size_t>(kRows * kDim), 4, -1.0f, 1.0f);
  vae_dataset* ds = nullptr;
  ASSERT_EQ(vae_dataset_create(t, x.data(), kRows, &ds), VAE_OK);
  vae_latent_usage_options o = defaults();
  o.mi_rows = 100;
  const Usage u = usage_of(t, ds, kLatent, o);
  // The closed forms, in double from the affine map.
  double kl_total = 0;
  for (int64_t j = 0; j < kLatent; ++j) {
    double kl = 0, mean = 0, squares = 0;
    for (int64_t i = 0; i < kRows; ++i) {
      const double mu = m.encoder_output(&x[static_cast<size_t>(i * kDim)], j);
      const double l = m.encoder_output(&x[static_cast<size_t>(i * kDim)], kLatent + j);
      kl += 0.5 * (mu * mu + std::exp(l) - l - 1) / kRows;
      mean += mu / kRows;
    }
    for (int64_t i = 0; i < kRows; ++i) {
      const double mu = m.encoder_output(&x[static_cast<size_t>(i * kDim)], j);
      squares += (mu - mean) * (mu - mean);
    }
    const double activity = squares / (kRows - 1);
    const auto k = static_cast<size_t>(j);
    EXPECT_NEAR(u.kl[k], kl, 1e-5 * kl + 1e-12) << "latent " << j;
    EXPECT_NEAR(u.activity[k], activity, 1e-5 * activity + 1e-12) << "latent " << j;
    kl_total += kl;
  }
  EXPECT_EQ(u.kl[2], 0.0);
  EXPECT_EQ(u.kl[3], 0.0);
  EXPECT_EQ(u.activity[2], 0.0);
  EXPECT_EQ(u.activity[3], 0.0);
  EXPECT_GT(u.activity[1], 1e-5);
  EXPECT_LT(u.activity[1], 0.01);
  EXPECT_EQ(u.r.active_units, 1);  // latent 1 varies, but below 0.01
  EXPECT_NEAR(u.r.kl_total, kl_total, 1e-5 * kl_total);
  EXPECT_DOUBLE_EQ(u.r.marginal_kl, u.r.kl_total - u.r.mutual_information);
  EXPECT_GE(u.r.mutual_information, -3 * u.r.mutual_information_std_error);
  EXPECT_LE(u.r.mutual_information, std::log(static_cast<double>(kRows)));
  o.active_threshold = 1e-6;
  EXPECT_EQ(usage_of(t, ds, kLatent, o).r.active_units, 2);
  vae_dataset_destroy(ds);
  vae_destroy(t);
}

TEST(LatentUsage, MutualInformationOfTwoClustersAndOfAnEncoderThatIgnoresX) {
  constexpr int64_t kDim = 4, kLatent = 3, kRows = 64;
  std::vector<float> x(static_cast<size_t>(kRows * kDim), 0.0f);
  for (int64_t i = 0; i < kRows; ++i) x[static_cast<size_t>(i * kDim + i % 2)] = 1.0f;
  // Two clusters: mu_0 = +-10 by the row's half, sigma_0 = e^-2.
  LinearVae two(kDim, kLatent);
  two.mu_weight(0, 0) = 10;
  two.mu_weight(0, 1) = -10;
  two.logvar_bias(0) = -4;
  two.mu_bias(1) = 0.5;
  two.logvar_bias(2) = 0.3;
  // The same posterior for every x.
  LinearVae blind(kDim, kLatent);
  blind.mu_bias(0) = 0.3;
  blind.mu_bias(1) = -1;
  blind.logvar_bias(0) = -1;
  blind.logvar_bias(2) = 0.5;
  for (const bool clusters : {true, false}) {
    SCOPED_TRACE(clusters ? "two clusters" : "x ignored");
    vae_trainer* t = (clusters ? two : blind).make(VAE_BACKEND_CPU);
    ASSERT_NE(t, nullptr);
    vae_dataset* ds = nullptr;
    ASSERT_EQ(vae_dataset_create(t, x.data(), kRows, &ds), VAE_OK);
    vae_latent_usage_options o = defaults();
    o.mi_samples = 3;
    const Usage u = usage_of(t, ds, kLatent, o);
    const double expected = clusters ? std::log(2.0) : 0.0;
    EXPECT_NEAR(u.r.mutual_information, expected, 1e-9);
    EXPECT_NEAR(u.r.mutual_information_std_error, 0.0, 1e-9);
    EXPECT_NEAR(u.r.marginal_kl, u.r.kl_total - expected, 1e-9);
    EXPECT_EQ(u.r.active_units, clusters ? 1 : 0);
    vae_dataset_destroy(ds);
    vae_destroy(t);
  }
}

TEST(LatentUsage, EqualsASecondComputationFromEncodeOnATrainedModel) {
  constexpr int64_t kDim = 12, kLatent = 5, kRows = 150;
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, kLatent), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_SEED, 9), VAE_OK);
  ASSERT_EQ(vae_config_set_float(c, VAE_OPT_LEARNING_RATE, 1e-2), VAE_OK);
  const int32_t widths[] = {16};
  ASSERT_EQ(vae_config_set_hidden_layers(c, widths, 1), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  vae_config_destroy(c);
  const auto x = vae::testing::two_patterns(kRows, kDim, 21);
  for (int step = 0; step < 200; ++step) {
    ASSERT_EQ(vae_train_step(t, x.data(), 100, nullptr), VAE_OK);
  }
  std::vector<float> mu(kRows * kLatent), logvar(kRows * kLatent);
  ASSERT_EQ(vae_encode(t, x.data(), kRows, mu.data(), logvar.data()), VAE_OK);
  vae_dataset* ds = nullptr;
  ASSERT_EQ(vae_dataset_create(t, x.data(), kRows, &ds), VAE_OK);
  vae_latent_usage_options o = defaults();
  o.mi_rows = 40;  // rows 0, 3, 7, ... (floor(m N / M))
  o.mi_samples = 2;
  const Usage u = usage_of(t, ds, kLatent, o);
  for (int64_t j = 0; j < kLatent; ++j) {
    double kl = 0, mean = 0, squares = 0;
    for (int64_t i = 0; i < kRows; ++i) {
      const auto e = static_cast<size_t>(i * kLatent + j);
      kl += 0.5 * (double(mu[e]) * mu[e] + std::exp(double(logvar[e])) - logvar[e] - 1) / kRows;
      mean += double(mu[e]) / kRows;
    }
    for (int64_t i = 0; i < kRows; ++i) {
      const double d = mu[static_cast<size_t>(i * kLatent + j)] - mean;
      squares += d * d;
    }
    EXPECT_NEAR(u.kl[static_cast<size_t>(j)], kl, 1e-9 * kl + 1e-12) << "latent " << j;
    EXPECT_NEAR(u.activity[static_cast<size_t>(j)], squares / (kRows - 1), 1e-9) << "latent " << j;
  }
  // I_q directly: log q(z | x_i) - log (1/N) sum_k q(z | x_k) for the same
  // draws: evaluation noise of the seed and the call's draw counter (0: the
  // trainer's first call that draws; training and vae_encode draw none),
  // element (m S + s) Z + j.
  const vae::NoiseKey key{9, 0, vae::NoiseStream::kEvalLatent, 0};
  const double two_pi = 2 * std::acos(-1.0);
  vae::NormalSequence noise(key);
  auto log_q = [&](const std::vector<double>& z, int64_t k) {
    double s = 0;
    for (int64_t j = 0; j < kLatent; ++j) {
      const auto e = static_cast<size_t>(k * kLatent + j);
      const double var = std::exp(double(logvar[e]));
      s += -0.5 * std::log(two_pi * var) - 0.5 * (z[static_cast<size_t>(j)] - mu[e]) *
                                                 (z[static_cast<size_t>(j)] - mu[e]) / var;
    }
    return s;
  };
  double sum = 0;
  for (int64_t m = 0; m < o.mi_rows; ++m) {
    const int64_t row = m * kRows / o.mi_rows;
    for (int64_t s = 0; s < o.mi_samples; ++s) {
      std::vector<double> z(kLatent);
      for (int64_t j = 0; j < kLatent; ++j) {
        const auto e = static_cast<size_t>(row * kLatent + j);
        const double eps = noise.at(static_cast<uint64_t>((m * o.mi_samples + s) * kLatent + j));
        z[static_cast<size_t>(j)] = mu[e] + std::sqrt(std::exp(double(logvar[e]))) * eps;
      }
      std::vector<double> terms(kRows);
      for (int64_t k = 0; k < kRows; ++k) terms[static_cast<size_t>(k)] = log_q(z, k);
      const double top = *std::max_element(terms.begin(), terms.end());
      double mixture = 0;
      for (double v : terms) mixture += std::exp(v - top);
      sum += terms[static_cast<size_t>(row)] - (top + std::log(mixture / kRows));
    }
  }
  const double mi = sum / static_cast<double>(o.mi_rows * o.mi_samples);
  EXPECT_NEAR(u.r.mutual_information, mi, 1e-9 * std::fabs(mi) + 1e-12);
  EXPECT_GT(u.r.mutual_information, 0.1);  // the trained encoder tells the patterns apart
  EXPECT_GT(u.r.mutual_information_std_error, 0.0);
  EXPECT_LE(u.r.mutual_information, std::log(static_cast<double>(kRows)));
  vae_dataset_destroy(ds);
  vae_destroy(t);
}

TEST(LatentUsage, BadArgumentsChangeNothing) {
  LinearVae m(3, 2);
  m.mu_weight(0, 0) = 1;
  vae_trainer* t = m.make(VAE_BACKEND_CPU);
  ASSERT_NE(t, nullptr);
  const auto x = vae::testing::uniform(30, 5);
  vae_dataset* ds = nullptr;
  ASSERT_EQ(vae_dataset_create(t, x.data(), 10, &ds), VAE_OK);
  std::vector<double> kl(2, 7.0);
  vae_latent_usage_result out{};
  out.size = sizeof out;
  out.kl = kl.data();
  out.active_units = 77;
  const vae_latent_usage_options good = defaults();
  struct Case {
    const char* names;
    vae_latent_usage_options o;
  };
  std::vector<Case> cases;
  auto with = [&](const char* names, auto change) {
    vae_latent_usage_options o = good;
    change(o);
    cases.push_back({names, o});
  };
  with("options.size", [](vae_latent_usage_options& o) { o.size = 1; });
  for (const double v : {-0.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    with("options.active_threshold", [&](vae_latent_usage_options& o) { o.active_threshold = v; });
  }
  with("options.mi_rows", [](vae_latent_usage_options& o) { o.mi_rows = 0; });
  with("options.mi_samples", [](vae_latent_usage_options& o) { o.mi_samples = -2; });
  for (const Case& c : cases) {
    EXPECT_EQ(vae_latent_usage(t, ds, &c.o, &out), VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(vae_last_error()).find(c.names), std::string::npos) << vae_last_error();
  }
  EXPECT_EQ(vae_latent_usage(t, ds, nullptr, &out), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_latent_usage(t, ds, &good, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_latent_usage(t, nullptr, &good, &out), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_latent_usage(nullptr, ds, &good, &out), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_latent_usage_options_init(nullptr), VAE_ERROR_INVALID_ARGUMENT);
  vae_latent_usage_result small = out;
  small.size = 8;
  EXPECT_EQ(vae_latent_usage(t, ds, &good, &small), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_last_error()).find("out.size"), std::string::npos);
  EXPECT_EQ(kl[0], 7.0);
  EXPECT_EQ(out.active_units, 77);
  // Interrupted from its progress callback: nothing written.
  ASSERT_EQ(vae_set_progress(t, [](void* user, int64_t, int64_t, double) {
    EXPECT_EQ(vae_interrupt(static_cast<vae_trainer*>(user)), VAE_OK);
  }, t), VAE_OK);
  EXPECT_EQ(vae_latent_usage(t, ds, &good, &out), VAE_ERROR_INTERRUPTED);
  EXPECT_EQ(kl[0], 7.0);
  EXPECT_EQ(out.active_units, 77);
  vae_dataset_destroy(ds);
  vae_destroy(t);
}

}  // namespace
