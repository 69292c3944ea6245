// vae_log_likelihood_stats and its dataset form: the estimate equals
// vae_log_likelihood's bit for bit; the standard error and ESS equal a
// second computation in double precision from the stored per-sample log
// weights of the same noise (a K = 1 call over each row repeated K times
// draws exactly the noise of sample s of row r: pair r K + s); adaptive K
// equals the fixed-K call at the K it reports; a linear Gaussian model with
// its exact posterior as encoder has ESS = K and standard error 0; bad
// arguments change nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "linear_vae.h"
#include "test_support.h"
#include "vae/vae.h"

namespace {

constexpr int64_t kDim = 12;
constexpr int64_t kLatent = 3;

class LikelihoodStats : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LATENT_DIM, kLatent), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_SEED, 5), VAE_OK);
    const int32_t widths[] = {10};
    ASSERT_EQ(vae_config_set_hidden_layers(config_, widths, 1), VAE_OK);
    // A trained model, so that the weights are uneven.
    vae_trainer* t = twin();
    const auto data = vae::testing::two_patterns(64, kDim, 3);
    for (int step = 0; step < 40; ++step) {
      ASSERT_EQ(vae_train_step(t, data.data(), 64, nullptr), VAE_OK);
    }
    int64_t count = 0;
    ASSERT_EQ(vae_parameter_count(t, &count), VAE_OK);
    params_.resize(static_cast<size_t>(count));
    ASSERT_EQ(vae_get_parameters(t, params_.data(), count), VAE_OK);
    x_ = vae::testing::two_patterns(kRows, kDim, 11);
  }
  void TearDown() override {
    for (vae_trainer* t : trainers_) vae_destroy(t);
    vae_config_destroy(config_);
  }

  // A fresh trainer with the trained parameters (when there are any): its
  // first evaluation call draws the noise every twin's first call draws.
  vae_trainer* twin() {
    vae_trainer* t = nullptr;
    EXPECT_EQ(vae_create(config_, &t), VAE_OK);
    trainers_.push_back(t);
    if (!params_.empty()) {
      EXPECT_EQ(vae_set_parameters(t, params_.data(), static_cast<int64_t>(params_.size())),
                VAE_OK);
    }
    return t;
  }

  struct Rows {
    std::vector<float> log_px, std_error, ess;
    std::vector<int32_t> k_used;
  };
  static vae_likelihood_options options(int32_t k, int estimator) {
    vae_likelihood_options o;
    EXPECT_EQ(vae_likelihood_options_init(&o), VAE_OK);
    o.k = k;
    o.estimator = estimator;
    return o;
  }
  Rows stats(vae_trainer* t, const vae_likelihood_options& o) {
    Rows r;
    r.log_px.assign(kRows, -1.0f);
    r.std_error.assign(kRows, -1.0f);
    r.ess.assign(kRows, -1.0f);
    r.k_used.assign(kRows, -1);
    vae_likelihood_rows out{sizeof(vae_likelihood_rows), r.log_px.data(), r.std_error.data(),
                            r.ess.data(), r.k_used.data()};
    EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, &o, &out), VAE_OK)
        << vae_last_error();
    return r;
  }

  static constexpr int64_t kRows = 20;
  vae_config* config_ = nullptr;
  std::vector<vae_trainer*> trainers_;
  std::vector<float> params_;
  std::vector<float> x_;
};

TEST_P(LikelihoodStats, FixedKEqualsTheEstimateAndTheStoredWeightsStatistics) {
  const int estimator = GetParam();
  for (const int32_t k : {1, 7, 100}) {
    SCOPED_TRACE("k = " + std::to_string(k));
    // Evaluation rows of one tile: rows are cut by chunks, their two sums
    // carried across.
    vae_trainer* cut = twin();
    ASSERT_EQ(vae_set_int(cut, VAE_OPT_EVAL_ROWS, 512), VAE_OK);
    const Rows r = stats(cut, options(k, estimator));
    std::vector<float> plain(kRows);
    ASSERT_EQ(vae_log_likelihood(twin(), x_.data(), kRows, k, estimator, plain.data()), VAE_OK);
    // Each row repeated k times, one sample each: the same noise, log w stored.
    std::vector<float> repeated;
    for (int64_t row = 0; row < kRows; ++row) {
      for (int32_t s = 0; s < k; ++s) {
        repeated.insert(repeated.end(), x_.begin() + row * kDim, x_.begin() + (row + 1) * kDim);
      }
    }
    std::vector<float> log_w(static_cast<size_t>(kRows * k));
    ASSERT_EQ(vae_log_likelihood(twin(), repeated.data(), kRows * k, 1, estimator, log_w.data()),
              VAE_OK);
    for (int64_t row = 0; row < kRows; ++row) {
      SCOPED_TRACE("row " + std::to_string(row));
      const auto i = static_cast<size_t>(row);
      EXPECT_EQ(std::memcmp(&r.log_px[i], &plain[i], sizeof(float)), 0)
          << r.log_px[i] << " vs " << plain[i];
      EXPECT_EQ(r.k_used[i], k);
      const double top = *std::max_element(log_w.begin() + row * k, log_w.begin() + (row + 1) * k);
      double sum = 0, sum2 = 0;
      for (int32_t s = 0; s < k; ++s) {
        const double w = std::exp(log_w[static_cast<size_t>(row * k + s)] - top);
        sum += w;
        sum2 += w * w;
      }
      const double mean = sum / k;
      const double ess = sum * sum / sum2;
      EXPECT_NEAR(r.log_px[i], top + std::log(mean), 1e-4 * (1 + std::fabs(r.log_px[i])));
      EXPECT_NEAR(r.ess[i], ess, 1e-4 * ess);
      EXPECT_GE(r.ess[i], 1.0f);
      EXPECT_LE(r.ess[i], static_cast<float>(k));
      if (k == 1) {
        EXPECT_TRUE(std::isinf(r.std_error[i]) && r.std_error[i] > 0);
        continue;
      }
      double variance = 0;  // the unbiased sample variance of the scaled weights
      for (int32_t s = 0; s < k; ++s) {
        const double w = std::exp(log_w[static_cast<size_t>(row * k + s)] - top);
        variance += (w - mean) * (w - mean) / (k - 1);
      }
      const double se = std::sqrt(variance / k) / mean;
      EXPECT_NEAR(r.std_error[i], se, 1e-4 * se + 1e-6);
    }
  }
}

TEST_P(LikelihoodStats, AdaptiveKEqualsTheFixedCallAtTheKItReports) {
  const int estimator = GetParam();
  // The target: the median standard error at K = 32, so that some rows stop
  // by then and others go on.
  Rows at32 = stats(twin(), options(32, estimator));
  std::vector<float> sorted = at32.std_error;
  std::sort(sorted.begin(), sorted.end());
  vae_likelihood_options o = options(8, estimator);
  o.adaptive = 1;
  o.k_max = 256;
  o.target_std_error = sorted[kRows / 2];
  const Rows a = stats(twin(), o);
  std::set<int32_t> ks(a.k_used.begin(), a.k_used.end());
  EXPECT_LE(*ks.begin(), 32);   // an easy row stops early
  EXPECT_GT(*ks.rbegin(), 32);  // a hard one goes on
  for (const int32_t k : ks) {
    SCOPED_TRACE("k = " + std::to_string(k));
    EXPECT_TRUE(k == 8 || k == 16 || k == 32 || k == 64 || k == 128 || k == 256);
    const Rows fixed = stats(twin(), options(k, estimator));
    for (size_t i = 0; i < static_cast<size_t>(kRows); ++i) {
      if (a.k_used[i] != k) continue;
      EXPECT_EQ(std::memcmp(&a.log_px[i], &fixed.log_px[i], sizeof(float)), 0) << "row " << i;
      EXPECT_EQ(std::memcmp(&a.std_error[i], &fixed.std_error[i], sizeof(float)), 0) << "row " << i;
      EXPECT_EQ(std::memcmp(&a.ess[i], &fixed.ess[i], sizeof(float)), 0) << "row " << i;
      EXPECT_TRUE(a.std_error[i] <= o.target_std_error || k == o.k_max) << "row " << i;
      // It stopped at the first round that met the target.
      if (k > 8) {
        const Rows before = stats(twin(), options(k / 2, estimator));
        EXPECT_GT(before.std_error[i], o.target_std_error) << "row " << i;
      }
    }
  }
}

TEST_P(LikelihoodStats, DatasetFormGivesTheMeansOfTheRowsWithProgress) {
  const int estimator = GetParam();
  for (const int adaptive : {0, 1}) {
    SCOPED_TRACE("adaptive " + std::to_string(adaptive));
    vae_likelihood_options o = options(16, estimator);
    o.adaptive = adaptive;
    o.k_max = 128;
    o.target_std_error = 0.05;
    const Rows r = stats(twin(), o);
    vae_trainer* t = twin();
    ASSERT_EQ(vae_set_int(t, VAE_OPT_EVAL_ROWS, 512), VAE_OK);
    vae_dataset* ds = nullptr;
    ASSERT_EQ(vae_dataset_create(t, x_.data(), kRows, &ds), VAE_OK);
    struct Report {
      int calls = 0;
      int64_t rows = 0, total = 0;
      double mean = 0;
    } report;
    ASSERT_EQ(vae_set_progress(t, [](void* user, int64_t rows, int64_t total, double mean) {
      auto* p = static_cast<Report*>(user);
      EXPECT_GE(rows, p->rows);  // rows done only grow
      ++p->calls;
      p->rows = rows;
      p->total = total;
      p->mean = mean;
    }, &report), VAE_OK);
    vae_likelihood_summary s{};
    s.size = sizeof s;
    ASSERT_EQ(vae_log_likelihood_stats_dataset(t, ds, &o, &s), VAE_OK) << vae_last_error();
    double log_px = 0, variance = 0, ess = 0, k = 0;
    for (size_t i = 0; i < static_cast<size_t>(kRows); ++i) {
      log_px += r.log_px[i];
      variance += static_cast<double>(r.std_error[i]) * r.std_error[i];
      ess += r.ess[i];
      k += r.k_used[i];
    }
    EXPECT_NEAR(s.mean_log_px, log_px / kRows, 1e-9 * std::fabs(s.mean_log_px));
    EXPECT_NEAR(s.std_error, std::sqrt(variance) / kRows, 1e-9);
    EXPECT_NEAR(s.mean_ess, ess / kRows, 1e-9 * ess);
    EXPECT_DOUBLE_EQ(s.mean_k_used, k / kRows);
    EXPECT_GT(report.calls, 0);
    EXPECT_EQ(report.rows, kRows);
    EXPECT_EQ(report.total, kRows);
    EXPECT_DOUBLE_EQ(report.mean, s.mean_log_px);
    // Interrupted from its callback: an error, and nothing written.
    ASSERT_EQ(vae_set_progress(t, [](void* user, int64_t, int64_t, double) {
      EXPECT_EQ(vae_interrupt(static_cast<vae_trainer*>(user)), VAE_OK);
    }, t), VAE_OK);
    vae_likelihood_summary untouched{};
    untouched.size = sizeof untouched;
    untouched.mean_log_px = 42;
    vae_likelihood_options chunks = o;  // several chunks: a check after the first
    chunks.k = 64;
    EXPECT_EQ(vae_log_likelihood_stats_dataset(t, ds, &chunks, &untouched),
              VAE_ERROR_INTERRUPTED);
    EXPECT_NE(std::string(vae_last_error()).find("interrupted"), std::string::npos);
    EXPECT_EQ(untouched.mean_log_px, 42);
    ASSERT_EQ(vae_set_progress(t, nullptr, nullptr), VAE_OK);
    vae_dataset_destroy(ds);
  }
}

// Rounds of more than 64 chunks whose last chunks hold no row still going:
// the last progress report still counts every row and gives the result.
TEST_P(LikelihoodStats, AdaptiveProgressEndsWithEveryRow) {
  vae_likelihood_options o = options(1024, GetParam());
  // The two rows with the smallest standard error at K = 1024 go last, and
  // the target is theirs: they stop after the first round, the chunks that
  // end the later rounds (rows 18 and 19) are not run, and a row before
  // them goes on to the last round.
  const Rows first = stats(twin(), o);
  std::vector<size_t> order(kRows);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return first.std_error[a] > first.std_error[b]; });
  std::vector<float> reordered;
  for (size_t i : order) {
    reordered.insert(reordered.end(), x_.begin() + static_cast<int64_t>(i) * kDim,
                     x_.begin() + static_cast<int64_t>(i + 1) * kDim);
  }
  x_ = reordered;
  const Rows at1024 = stats(twin(), o);
  const Rows at2048 = stats(twin(), options(2048, GetParam()));
  o.adaptive = 1;
  o.k_max = 4096;
  o.target_std_error = std::max(at1024.std_error[kRows - 2], at1024.std_error[kRows - 1]);
  ASSERT_GT(*std::max_element(at2048.std_error.begin(), at2048.std_error.end() - 2),
            o.target_std_error);
  vae_trainer* t = twin();
  ASSERT_EQ(vae_set_int(t, VAE_OPT_EVAL_ROWS, 512), VAE_OK);  // 80 and 160 chunks a round
  vae_dataset* ds = nullptr;
  ASSERT_EQ(vae_dataset_create(t, x_.data(), kRows, &ds), VAE_OK);
  struct Last {
    int64_t rows = -1;
    double mean = 0;
  } last;
  ASSERT_EQ(vae_set_progress(t, [](void* user, int64_t rows, int64_t, double mean) {
    auto* l = static_cast<Last*>(user);
    EXPECT_GE(rows, l->rows);
    l->rows = rows;
    l->mean = mean;
  }, &last), VAE_OK);
  vae_likelihood_summary s{};
  s.size = sizeof s;
  ASSERT_EQ(vae_log_likelihood_stats_dataset(t, ds, &o, &s), VAE_OK) << vae_last_error();
  EXPECT_GT(s.mean_k_used, 1024);
  EXPECT_LT(s.mean_k_used, 4096);
  EXPECT_EQ(last.rows, kRows);
  EXPECT_DOUBLE_EQ(last.mean, s.mean_log_px);
  vae_dataset_destroy(ds);
}

TEST_P(LikelihoodStats, BadArgumentsChangeNothing) {
  const int estimator = GetParam();
  vae_trainer* t = twin();
  std::vector<float> out(kRows, 7.0f);
  const vae_likelihood_rows rows{sizeof(vae_likelihood_rows), out.data(), nullptr, nullptr,
                                 nullptr};
  const vae_likelihood_options good = options(8, estimator);
  struct Case {
    const char* names;  // what the message must name
    vae_likelihood_options o;
  };
  std::vector<Case> cases;
  auto with = [&](const char* names, auto change) {
    vae_likelihood_options o = good;
    change(o);
    cases.push_back({names, o});
  };
  with("options.size", [](vae_likelihood_options& o) { o.size = 8; });
  with("k", [](vae_likelihood_options& o) { o.k = 0; });
  with("estimator", [](vae_likelihood_options& o) { o.estimator = 5; });
  with("options.adaptive", [](vae_likelihood_options& o) { o.adaptive = 2; });
  const double bad_targets[] = {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()};
  for (const double target : bad_targets) {
    with("options.target_std_error", [&](vae_likelihood_options& o) {
      o.adaptive = 1;
      o.k_max = 64;
      o.target_std_error = target;
    });
  }
  for (const int32_t k_max : {0, -3, 4}) {
    with("options.k_max", [&](vae_likelihood_options& o) {
      o.adaptive = 1;
      o.k_max = k_max;
      o.target_std_error = 0.1;
    });
  }
  for (const Case& c : cases) {
    EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, &c.o, &rows),
              VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(vae_last_error()).find(c.names), std::string::npos) << vae_last_error();
  }
  EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, nullptr, &rows),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, &good, nullptr),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), 0, &good, &rows), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_log_likelihood_stats(t, nullptr, kRows, &good, &rows),
            VAE_ERROR_INVALID_ARGUMENT);
  vae_likelihood_rows none{sizeof(vae_likelihood_rows), nullptr, nullptr, nullptr, nullptr};
  EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, &good, &none),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_last_error()).find("all NULL"), std::string::npos);
  vae_likelihood_rows small = rows;
  small.size = 4;
  EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, &good, &small),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_likelihood_options_init(nullptr), VAE_ERROR_INVALID_ARGUMENT);
  // A row that is not finite is refused naming it, and nothing is written.
  std::vector<float> bad = x_;
  bad[5 * kDim + 2] = std::nanf("");
  EXPECT_EQ(vae_log_likelihood_stats(t, bad.data(), kRows, &good, &rows),
            VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_last_error()).find("row 5"), std::string::npos) << vae_last_error();
  for (float v : out) EXPECT_EQ(v, 7.0f);
  vae_likelihood_summary s{};
  s.size = sizeof s;
  EXPECT_EQ(vae_log_likelihood_stats_dataset(t, nullptr, &good, &s), VAE_ERROR_INVALID_ARGUMENT);
  // Nothing was drawn: the next call is a twin's first.
  EXPECT_EQ(vae_log_likelihood_stats(t, x_.data(), kRows, &good, &rows), VAE_OK);
  std::vector<float> first(kRows);
  ASSERT_EQ(vae_log_likelihood(twin(), x_.data(), kRows, 8, estimator, first.data()), VAE_OK);
  EXPECT_EQ(std::memcmp(out.data(), first.data(), sizeof(float) * kRows), 0);
}

// Calibration: over many draws at a fixed K, the spread of log p^ matches
// the mean reported standard error (within 15%), row by row.
TEST_P(LikelihoodStats, StandardErrorMatchesTheSpreadOverDraws) {
  vae_trainer* t = twin();
  const vae_likelihood_options o = options(100, GetParam());
  constexpr int kDraws = 400;
  std::vector<double> sum(kRows), squares(kRows), se(kRows);
  for (int draw = 0; draw < kDraws; ++draw) {
    const Rows r = stats(t, o);  // each call draws new noise
    for (size_t i = 0; i < static_cast<size_t>(kRows); ++i) {
      sum[i] += r.log_px[i];
      squares[i] += static_cast<double>(r.log_px[i]) * r.log_px[i];
      se[i] += r.std_error[i] / kDraws;
    }
  }
  for (size_t i = 0; i < static_cast<size_t>(kRows); ++i) {
    const double mean = sum[i] / kDraws;
    const double spread = std::sqrt((squares[i] - kDraws * mean * mean) / (kDraws - 1));
    EXPECT_NEAR(spread / se[i], 1.0, 0.15) << "row " << i << ": spread " << spread
                                           << ", mean standard error " << se[i];
  }
}

// Probabilistic PCA, x = V z + c + noise of variance s2, with orthogonal
// columns of V: the exact posterior is N(S V^T (x - c) / s2, S), S = diag
// 1 / (1 + |V_u|^2 / s2), an affine map of x, and log p(x) = log N(x; c,
// V V^T + s2 I). With the encoder set to it every weight equals p(x): ESS =
// K and the standard error is 0 (to float rounding of the log weights); a
// shifted encoder gives uneven weights.
TEST(LikelihoodStatsClosedForm, ExactPosteriorGivesEqualWeights) {
  constexpr int64_t kD = 6, kZ = 2, kRows = 9;
  const double s2 = 0.25;
  vae::testing::LinearVae m(kD, kZ);
  m.log_variance = std::log(s2);
  const double v0[kD] = {0.9, 0.9, 0, 0, 0, 0};
  const double v1[kD] = {0, 0, 0.7, -0.7, 0.35, 0};
  const auto c = vae::testing::uniform(kD, 31, -0.5f, 0.5f);
  double norm[kZ] = {0, 0};
  for (int64_t d = 0; d < kD; ++d) {
    m.decoder_weight(d, 0) = v0[d];
    m.decoder_weight(d, 1) = v1[d];
    m.dec_b[static_cast<size_t>(d)] = c[static_cast<size_t>(d)];
    norm[0] += v0[d] * v0[d];
    norm[1] += v1[d] * v1[d];
  }
  for (int64_t u = 0; u < kZ; ++u) {
    const double var = 1 / (1 + norm[u] / s2);
    double bias = 0;
    for (int64_t d = 0; d < kD; ++d) {
      m.mu_weight(u, d) = var * m.decoder_weight(d, u) / s2;
      bias -= m.mu_weight(u, d) * c[static_cast<size_t>(d)];
    }
    m.mu_bias(u) = bias;
    m.logvar_bias(u) = std::log(var);
  }
  // x drawn from the model.
  std::vector<float> x(kRows * kD);
  const auto z = vae::testing::normal(kRows * kZ, 32);
  const auto noise = vae::testing::normal(kRows * kD, 33);
  for (int64_t i = 0; i < kRows; ++i) {
    for (int64_t d = 0; d < kD; ++d) {
      double v = c[static_cast<size_t>(d)] + std::sqrt(s2) * noise[static_cast<size_t>(i * kD + d)];
      for (int64_t u = 0; u < kZ; ++u) {
        v += m.decoder_weight(d, u) * z[static_cast<size_t>(i * kZ + u)];
      }
      x[static_cast<size_t>(i * kD + d)] = static_cast<float>(v);
    }
  }
  // log N(x; c, C), C = V V^T + s2 I = s2 I + sum_u v_u v_u^T with orthogonal
  // v_u: eigenvalues s2 + |v_u|^2 along v_u, s2 elsewhere.
  auto exact = [&](int64_t i) {
    double quad = 0, logdet = kD * std::log(s2), r2 = 0;
    std::vector<double> r(kD);
    for (int64_t d = 0; d < kD; ++d) {
      r[static_cast<size_t>(d)] = x[static_cast<size_t>(i * kD + d)] - c[static_cast<size_t>(d)];
      r2 += r[static_cast<size_t>(d)] * r[static_cast<size_t>(d)];
    }
    quad = r2 / s2;
    for (int64_t u = 0; u < kZ; ++u) {
      double proj = 0;
      for (int64_t d = 0; d < kD; ++d) proj += m.decoder_weight(d, u) * r[static_cast<size_t>(d)];
      const double along = proj * proj / norm[u];  // |component along v_u|^2
      quad += along / (s2 + norm[u]) - along / s2;
      logdet += std::log((s2 + norm[u]) / s2);
    }
    return -0.5 * (quad + logdet + kD * std::log(2 * std::acos(-1.0)));
  };
  constexpr int32_t kK = 64;
  for (const bool shifted : {false, true}) {
    SCOPED_TRACE(shifted ? "shifted encoder" : "exact posterior");
    vae::testing::LinearVae e = m;
    if (shifted) e.mu_bias(0) += 0.8;
    vae_trainer* t = e.make(VAE_BACKEND_CPU);
    ASSERT_NE(t, nullptr);
    std::vector<float> log_px(kRows), se(kRows), ess(kRows);
    const vae_likelihood_rows out{sizeof(vae_likelihood_rows), log_px.data(), se.data(),
                                  ess.data(), nullptr};
    vae_likelihood_options o;
    ASSERT_EQ(vae_likelihood_options_init(&o), VAE_OK);
    o.k = kK;
    ASSERT_EQ(vae_log_likelihood_stats(t, x.data(), kRows, &o, &out), VAE_OK) << vae_last_error();
    for (size_t i = 0; i < static_cast<size_t>(kRows); ++i) {
      if (!shifted) {
        EXPECT_NEAR(log_px[i], exact(static_cast<int64_t>(i)), 1e-4) << "row " << i;
        EXPECT_GT(ess[i], kK * (1 - 1e-6)) << "row " << i;
        EXPECT_LT(se[i], 1e-5) << "row " << i;
      } else {
        EXPECT_LT(ess[i], 0.9 * kK) << "row " << i;
        EXPECT_GT(se[i], 1e-3) << "row " << i;
        // Importance sampling with K samples bounds log p(x) from below on average.
        EXPECT_LT(log_px[i], exact(static_cast<int64_t>(i)) + 5 * se[i]) << "row " << i;
      }
    }
    vae_destroy(t);
  }
}

INSTANTIATE_TEST_SUITE_P(Estimators, LikelihoodStats,
                         ::testing::Values(VAE_ESTIMATOR_IMPORTANCE, VAE_ESTIMATOR_PRIOR),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == VAE_ESTIMATOR_PRIOR ? "Prior" : "Importance";
                         });

}  // namespace
