// The evaluation calls in chunks (src/evaluation.h): the likelihood estimates
// and the ELBO against a plain double-precision computation written here from
// DESIGN.md section 1 (its own MLP; only the noise generator is shared),
// for chunk sizes that cut the rows and the samples anywhere; the same
// numbers, bit for bit, whatever VAE_OPT_EVAL_ROWS and the thread count; the
// option itself; and the progress reports of the dataset forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "evaluator.h"
#include "test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::CpuTrainerD;
using testing::CpuTrainerF;

// The model's mathematics in double, from the packed parameters.
class Reference {
 public:
  Reference(const Config& c, std::vector<float> packed) : c_(c), p_(packed.begin(), packed.end()) {}

  // [mu | logvar] of x.
  std::vector<double> encode(const float* x) const {
    size_t at = 0;
    std::vector<double> h(x, x + c_.input_dim);
    for (int64_t w : c_.hidden) h = layer(&at, h, w, true);
    return layer(&at, h, 2 * c_.latent_dim, false);
  }

  // -log p(x | z).
  double nll(const float* x, const std::vector<double>& z) const {
    size_t at = decoder_offset();
    std::vector<double> h = z;
    for (size_t i = c_.hidden.size(); i-- > 0;) h = layer(&at, h, c_.hidden[i], true);
    const std::vector<double> out = layer(&at, h, c_.input_dim, false);
    double sum = 0;
    for (int64_t d = 0; d < c_.input_dim; ++d) {
      const double l = out[static_cast<size_t>(d)];
      if (c_.gaussian()) {
        const double v = log_variance(at, d);
        const double diff = x[d] - l;
        sum += 0.5 * (diff * diff * std::exp(-v) + v + std::log(2 * M_PI));
      } else {
        sum += std::max(l, 0.0) + std::log1p(std::exp(-std::fabs(l))) - x[d] * l;
      }
    }
    return sum;
  }

  // Sample s of call row r: z and log q(z|x) - log p(z), from the noise
  // element (r K + s) Z + j of the call's array.
  std::vector<double> latent(const NoiseKey& key, int64_t r, int64_t k, int64_t s,
                             const std::vector<double>& mu_logvar, bool prior,
                             double* log_ratio) const {
    const int64_t z_dim = c_.latent_dim;
    std::vector<double> z(static_cast<size_t>(z_dim));
    *log_ratio = 0;
    for (int64_t j = 0; j < z_dim; ++j) {
      const double eps = standard_normal(key, static_cast<uint64_t>((r * k + s) * z_dim + j));
      if (prior) {
        z[static_cast<size_t>(j)] = eps;
        continue;
      }
      const double mu = mu_logvar[static_cast<size_t>(j)];
      const double lv = mu_logvar[static_cast<size_t>(z_dim + j)];
      const double zj = mu + std::exp(0.5 * lv) * eps;
      z[static_cast<size_t>(j)] = zj;
      // log N(z; mu, sigma^2) - log N(z; 0, 1)
      *log_ratio += -0.5 * eps * eps - 0.5 * lv + 0.5 * zj * zj;
    }
    return z;
  }

  // log (1/K) sum_k w_k for row r of a call keyed by key.
  double log_likelihood(const float* x, const NoiseKey& key, int64_t r, int64_t k,
                        bool prior) const {
    const std::vector<double> q = encode(x);
    std::vector<double> lw;
    for (int64_t s = 0; s < k; ++s) {
      double log_ratio = 0;
      const std::vector<double> z = latent(key, r, k, s, q, prior, &log_ratio);
      lw.push_back(-nll(x, z) - log_ratio);
    }
    const double top = *std::max_element(lw.begin(), lw.end());
    double sum = 0;
    for (double v : lw) sum += std::exp(v - top);
    return top + std::log(sum / static_cast<double>(k));
  }

  // elbo, E_q log p(x|z) over the K samples, analytic KL.
  std::vector<double> evaluate(const float* x, const NoiseKey& key, int64_t r, int64_t k) const {
    const std::vector<double> q = encode(x);
    double rec = 0;
    for (int64_t s = 0; s < k; ++s) {
      double unused = 0;
      rec -= nll(x, latent(key, r, k, s, q, false, &unused)) / static_cast<double>(k);
    }
    double kl = 0;
    for (int64_t j = 0; j < c_.latent_dim; ++j) {
      const double mu = q[static_cast<size_t>(j)];
      const double lv = q[static_cast<size_t>(c_.latent_dim + j)];
      kl += 0.5 * (mu * mu + std::exp(lv) - lv - 1);
    }
    return {rec - kl, rec, kl};
  }

 private:
  std::vector<double> layer(size_t* at, const std::vector<double>& in, int64_t out,
                            bool hidden) const {
    const size_t n_in = in.size();
    const size_t bias = *at + n_in * static_cast<size_t>(out);
    std::vector<double> y(static_cast<size_t>(out));
    for (size_t o = 0; o < y.size(); ++o) {
      double sum = p_[bias + o];
      for (size_t i = 0; i < n_in; ++i) sum += p_[*at + o * n_in + i] * in[i];
      if (hidden) {
        sum = c_.activation == VAE_ACTIVATION_TANH ? std::tanh(sum) : std::max(sum, 0.0);
      }
      y[o] = sum;
    }
    *at = bias + static_cast<size_t>(out);
    return y;
  }

  size_t decoder_offset() const {
    size_t at = 0;
    int64_t in = c_.input_dim;
    for (int64_t w : c_.hidden) {
      at += static_cast<size_t>((in + 1) * w);
      in = w;
    }
    return at + static_cast<size_t>((in + 1) * 2 * c_.latent_dim);
  }

  // `end` is the offset just past the decoder's output layer.
  double log_variance(size_t end, int64_t d) const {
    if (c_.variance == VAE_VARIANCE_LEARNED_SHARED) return p_[end];
    if (c_.variance == VAE_VARIANCE_LEARNED_PER_DIM) return p_[end + static_cast<size_t>(d)];
    return c_.log_variance;
  }

  Config c_;
  std::vector<double> p_;
};

Config bernoulli_config() {
  Config c = testing::small_config(10, 3, {7, 5}, 4);
  c.samples = 3;
  return c;
}

Config gaussian_config() {
  Config c = testing::small_config(9, 2, {6}, 4);
  c.activation = VAE_ACTIVATION_RELU;
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  c.samples = 2;
  return c;
}

// Parameters from a fixed seed, large enough that the posterior is far from
// the prior (log variances in [-1, 1] for a learned Gaussian variance).
std::vector<float> random_parameters(int64_t count, uint32_t seed) {
  return testing::uniform(static_cast<size_t>(count), seed, -0.8f, 0.8f);
}

std::vector<float> data_for(const Config& c, int64_t rows, uint32_t seed) {
  const size_t count = static_cast<size_t>(rows * c.input_dim);
  return c.gaussian() ? testing::uniform(count, seed) : testing::binary(count, seed);
}

template <class Trainer>
std::unique_ptr<Trainer> trainer_with(Config c, int64_t eval_rows, int64_t threads,
                                      const std::vector<float>& params) {
  c.eval_rows = eval_rows;
  c.threads = threads;
  auto t = testing::make_trainer<Trainer>(c);
  t->set_parameters(params.data(), static_cast<int64_t>(params.size()));
  return t;
}

NoiseKey call_key(const Config& c, NoiseStream stream, int64_t draw) {
  return NoiseKey{static_cast<uint64_t>(c.seed), static_cast<uint64_t>(draw), stream, 0};
}

// (rows, samples) shapes whose pairs the chunk sizes below cut in every way:
// chunks that end inside a row, rows longer than a chunk, a last chunk that
// is partial, one pair per row (the models' tile is 512 pairs).
struct Shape {
  int64_t rows;
  int32_t k;
};
const Shape kShapes[] = {{13, 50}, {3, 700}, {1300, 1}, {1, 1}, {90, 7}};
// Chunks of one tile (512 pairs here), two, three.
const int64_t kEvalRows[] = {0, 1, 512, 1100, 1600};

class EvaluationChunks : public ::testing::TestWithParam<bool> {
 protected:
  Config config() const { return GetParam() ? gaussian_config() : bernoulli_config(); }
};

TEST_P(EvaluationChunks, EstimatorsEqualThePlainComputation) {
  const Config c = config();
  const auto params = random_parameters(ParameterLayout(c).packed_total, 11);
  const Reference ref(c, params);
  for (const Shape& shape : kShapes) {
    const auto x = data_for(c, shape.rows, 12);
    for (int64_t eval_rows : kEvalRows) {
      for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
        auto t = trainer_with<CpuTrainerD>(c, eval_rows, 2, params);
        std::vector<float> got(static_cast<size_t>(shape.rows));
        t->log_likelihood(x.data(), shape.rows, shape.k, estimator, got.data());
        const bool prior = estimator == VAE_ESTIMATOR_PRIOR;
        const NoiseKey key =
            call_key(c, prior ? NoiseStream::kPrior : NoiseStream::kEvalLatent, 0);
        for (int64_t r = 0; r < shape.rows; ++r) {
          const double want =
              ref.log_likelihood(x.data() + r * c.input_dim, key, r, shape.k, prior);
          // got is a float: its rounding, nothing more.
          EXPECT_NEAR(got[static_cast<size_t>(r)], want, 1e-6 * std::max(1.0, std::fabs(want)))
              << "rows " << shape.rows << " k " << shape.k << " eval_rows " << eval_rows
              << " estimator " << estimator << " row " << r;
        }
      }
    }
  }
}

TEST_P(EvaluationChunks, ElboEqualsThePlainComputation) {
  for (int64_t samples : {1, 3, 300}) {
    Config c = config();
    c.samples = samples;
    const auto params = random_parameters(ParameterLayout(c).packed_total, 21);
    const Reference ref(c, params);
    const int64_t rows = 200;
    const auto x = data_for(c, rows, 22);
    for (int64_t eval_rows : kEvalRows) {
      auto t = trainer_with<CpuTrainerD>(c, eval_rows, 3, params);
      std::vector<float> elbo(rows), rec(rows), kl(rows);
      t->evaluate(x.data(), rows, elbo.data(), rec.data(), kl.data());
      const NoiseKey key = call_key(c, NoiseStream::kEvalLatent, 0);
      for (int64_t r = 0; r < rows; ++r) {
        const auto want = ref.evaluate(x.data() + r * c.input_dim, key, r, samples);
        const auto i = static_cast<size_t>(r);
        const double tolerance = 1e-6 * std::max(1.0, std::fabs(want[0]));
        EXPECT_NEAR(elbo[i], want[0], tolerance) << "samples " << samples << " row " << r;
        EXPECT_NEAR(rec[i], want[1], tolerance) << "samples " << samples << " row " << r;
        EXPECT_NEAR(kl[i], want[2], tolerance) << "samples " << samples << " row " << r;
      }
    }
  }
}

TEST_P(EvaluationChunks, FloatBackendAgreesWithThePlainComputation) {
  // The float trainer's vectorized likelihood and float GEMMs, against double.
  const Config c = config();
  const auto params = random_parameters(ParameterLayout(c).packed_total, 31);
  const Reference ref(c, params);
  const int64_t rows = 20;
  const int32_t k = 90;
  const auto x = data_for(c, rows, 32);
  auto t = trainer_with<CpuTrainerF>(c, 300, 2, params);
  std::vector<float> got(rows);
  t->log_likelihood(x.data(), rows, k, VAE_ESTIMATOR_IMPORTANCE, got.data());
  const NoiseKey key = call_key(c, NoiseStream::kEvalLatent, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const double want = ref.log_likelihood(x.data() + r * c.input_dim, key, r, k, false);
    EXPECT_NEAR(got[static_cast<size_t>(r)], want, 2e-5 * std::max(1.0, std::fabs(want)))
        << "row " << r;
  }
}

TEST_P(EvaluationChunks, SameBitsWhateverTheChunkAndThreads) {
  // Products wide enough inside (500) that OpenBLAS computes a product of a
  // few rows by other kernels than one of many: a tile cut differently
  // would show in the last bits.
  Config c = config();
  c.input_dim = 40;
  c.hidden = {500};
  c.latent_dim = 4;
  c.samples = 5;
  const auto params = random_parameters(ParameterLayout(c).packed_total, 41);
  const int64_t rows = 75;
  const auto x = data_for(c, rows, 42);
  std::vector<float> first_lp, first_elbo;
  for (int64_t eval_rows : {0, 1, 512, 600, 1000, 4096}) {
    for (int64_t threads : {1, 2, 3}) {
      auto t = trainer_with<CpuTrainerF>(c, 0, threads, params);
      // Set on the live trainer: the option may change.
      t->set_int(VAE_OPT_EVAL_ROWS, eval_rows);
      std::vector<float> lp(rows), elbo(rows);
      // 75 x 7 = 525 pairs: a tile of 512 and one of 13.
      t->log_likelihood(x.data(), rows, 7, VAE_ESTIMATOR_IMPORTANCE, lp.data());
      t->evaluate(x.data(), rows, elbo.data(), nullptr, nullptr);
      if (first_lp.empty()) {
        first_lp = lp;
        first_elbo = elbo;
        continue;
      }
      EXPECT_EQ(std::memcmp(lp.data(), first_lp.data(), sizeof(float) * lp.size()), 0)
          << "eval_rows " << eval_rows << " threads " << threads;
      EXPECT_EQ(std::memcmp(elbo.data(), first_elbo.data(), sizeof(float) * elbo.size()), 0)
          << "eval_rows " << eval_rows << " threads " << threads;
    }
  }
}

// Every pair's value (the estimator's log weight), gathered chunk by chunk
// through the trainer's evaluator with eval_rows and threads.
std::vector<float> pair_values(const Config& c, const std::vector<float>& params,
                               const std::vector<float>& x, int64_t rows, int64_t k,
                               int64_t eval_rows, int64_t threads) {
  auto t = trainer_with<CpuTrainerF>(c, 0, threads, params);
  Evaluator<CpuOps<float>> evaluator(t->ops(), t->network(), c.input_dim, c.latent_dim);
  const EvalPlan plan = evaluator.plan(rows, k, eval_rows);
  evaluator.reserve(plan);
  EvalBuffers<float>& b = evaluator.buffers();
  std::vector<float> values(static_cast<size_t>(rows * k));
  const NoiseKey key = call_key(c, NoiseStream::kEvalLatent, 0);
  for (int64_t index = 0; index < plan.chunks(); ++index) {
    const EvalChunk chunk = eval_chunk(plan, index);
    std::copy_n(x.begin() + chunk.first_row * c.input_dim, chunk.rows * c.input_dim, b.x);
    evaluator.run(chunk, EvalMode::kImportance, key);
    std::copy_n(b.values, chunk.pairs, values.begin() + chunk.first_pair);
  }
  return values;
}

TEST_P(EvaluationChunks, EachSampleTheSameWhateverTheChunkAndThreads) {
  // The log weights themselves, before the rows' sums round differences of
  // their last bits away: the same products, tile by tile, in every case.
  Config c = config();
  c.input_dim = 40;
  c.hidden = {500};
  c.latent_dim = 4;
  const auto params = random_parameters(ParameterLayout(c).packed_total, 43);
  const int64_t rows = 75;
  const int64_t k = 7;  // 525 pairs: a tile of 512 and one of 13
  const auto x = data_for(c, rows, 44);
  const std::vector<float> first = pair_values(c, params, x, rows, k, 0, 1);
  for (int64_t eval_rows : {1, 512, 600, 1100}) {
    for (int64_t threads : {1, 2, 3}) {
      const std::vector<float> values = pair_values(c, params, x, rows, k, eval_rows, threads);
      EXPECT_EQ(std::memcmp(values.data(), first.data(), sizeof(float) * first.size()), 0)
          << "eval_rows " << eval_rows << " threads " << threads;
    }
  }
}

TEST_P(EvaluationChunks, DatasetMeansAreTheRowsMeans) {
  const Config c = config();
  const auto params = random_parameters(ParameterLayout(c).packed_total, 51);
  const Reference ref(c, params);
  const int64_t rows = 23;
  const int32_t k = 40;
  const auto x = data_for(c, rows, 52);
  auto t = trainer_with<CpuTrainerD>(c, 512, 2, params);
  auto ds = t->create_dataset(x.data(), rows);
  double mean = 0;
  t->log_likelihood_dataset(*ds, k, VAE_ESTIMATOR_IMPORTANCE, &mean);
  double elbo = 0, rec = 0, kl = 0;
  t->evaluate_dataset(*ds, &elbo, &rec, &kl);
  double want_mean = 0;
  std::vector<double> want(3, 0.0);
  const NoiseKey lp_key = call_key(c, NoiseStream::kEvalLatent, 0);
  const NoiseKey elbo_key = call_key(c, NoiseStream::kEvalLatent, 1);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * c.input_dim;
    want_mean += ref.log_likelihood(row, lp_key, r, k, false) / rows;
    const auto e = ref.evaluate(row, elbo_key, r, c.samples);
    for (size_t m = 0; m < 3; ++m) want[m] += e[m] / rows;
  }
  EXPECT_NEAR(mean, want_mean, 1e-6 * std::fabs(want_mean));
  EXPECT_NEAR(elbo, want[0], 1e-6 * std::fabs(want[0]));
  EXPECT_NEAR(rec, want[1], 1e-6 * std::fabs(want[1]));
  EXPECT_NEAR(kl, want[2], 1e-6 * std::max(1.0, std::fabs(want[2])));
}

TEST(EvaluationPlan, ChunksCoverThePairsInWholeTiles) {
  // 10 rows of 700 samples in chunks of two tiles (1024 pairs).
  const EvalPlan p = make_eval_plan(10, 700, 1100, 784);
  EXPECT_EQ(p.tile, 512);
  EXPECT_EQ(p.chunk_pairs, 1024);
  EXPECT_EQ(p.chunks(), 7);  // 7000 pairs
  int64_t next = 0, done = 0;
  for (int64_t i = 0; i < p.chunks(); ++i) {
    const EvalChunk c = eval_chunk(p, i);
    EXPECT_EQ(c.first_pair, next);
    EXPECT_EQ(c.first_pair % p.tile, 0);
    EXPECT_EQ(c.first_pair_row, c.first_pair / 700);
    EXPECT_EQ(c.continues_first(), c.first_pair % 700 != 0);
    // The staged rows: whole row tiles around the pairs' rows.
    EXPECT_EQ(c.first_row % kEvalRowTile, 0);
    EXPECT_LE(c.first_row, c.first_pair_row);
    EXPECT_GT(c.first_row + c.rows, c.last_pair_row);
    EXPECT_LE(c.rows, p.row_capacity);
    EXPECT_EQ(c.first_pair_row, done);  // every row before its first is done
    done = c.done_end();
    next = c.first_pair + c.pairs;
  }
  EXPECT_EQ(next, 7000);
  EXPECT_EQ(done, 10);
  // At least a tile; no more than the call; no buffer past 2^31 elements.
  EXPECT_EQ(make_eval_plan(10, 700, 1, 784).chunk_pairs, 512);
  EXPECT_EQ(make_eval_plan(3, 5, 1 << 24, 784).chunk_pairs, 512);
  const EvalPlan wide = make_eval_plan(1 << 20, 1, 1 << 24, 1 << 20);
  EXPECT_EQ(wide.tile, 512);
  EXPECT_LE((wide.chunk_pairs + 2 * kEvalRowTile) * (int64_t{1} << 20), int64_t{2147483647});
  EXPECT_GT(wide.chunk_pairs, 0);
  EXPECT_EQ(make_eval_plan(4, 1, 0, int64_t{1} << 24).tile, 64);
}

INSTANTIATE_TEST_SUITE_P(Likelihoods, EvaluationChunks, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Gaussian" : "Bernoulli";
                         });

}  // namespace
}  // namespace vae
