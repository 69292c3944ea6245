// Training behaviour: the loss falls, update modes move only their own
// parameters, beta = 0 is a plain autoencoder, Adam is PyTorch's, runs are
// bit-reproducible, checkpoints resume exactly, and a non-finite step
// changes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "test_support.h"

namespace vae {
namespace {

using testing::CpuTrainerD;
using testing::CpuTrainerF;

std::vector<float> state(const Trainer& t, StateBuffer b) { return t.read_state(b); }

TEST(Training, LossFallsOnSyntheticData) {
  Config c = testing::small_config(20, 2, {32}, 64);
  c.learning_rate = 5e-3;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const auto x = testing::two_patterns(64, 20, 1, 0.9f);
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    t->train_step(x.data(), 64, &last);
    if (step == 0) first = last;
  }
  // From about 20 log 2 = 13.9 nats towards the data's entropy, 20 H(0.1) = 6.5.
  EXPECT_GT(first, 13.0f);
  EXPECT_LT(last, 0.7f * first);
  EXPECT_EQ(t->counters().steps, 300);
}

TEST(Training, EachUpdateModeMovesOnlyItsOwnParameters) {
  for (int update : {VAE_UPDATE_ENCODER, VAE_UPDATE_DECODER, VAE_UPDATE_ALL}) {
    Config c = testing::small_config();
    c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
    c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
    auto t = testing::make_trainer<CpuTrainerF>(c);
    t->set_int(VAE_OPT_UPDATE, update);
    const size_t split = t->network().layout().encoder_end;
    const auto before = state(*t, StateBuffer::kParameters);
    const auto x = testing::uniform(6 * 12, 2);
    for (int step = 0; step < 3; ++step) t->train_step(x.data(), 6, nullptr);
    const auto after = state(*t, StateBuffer::kParameters);
    const auto moment = state(*t, StateBuffer::kAdamFirstMoment);
    size_t moved_encoder = 0, moved_decoder = 0;
    for (size_t e = 0; e < after.size(); ++e) {
      const bool moved = after[e] != before[e];
      (e < split ? moved_encoder : moved_decoder) += moved;
    }
    const size_t decoder_count = after.size() - split;
    EXPECT_EQ(moved_encoder, update == VAE_UPDATE_DECODER ? 0u : split) << update;
    EXPECT_EQ(moved_decoder, update == VAE_UPDATE_ENCODER ? 0u : decoder_count) << update;
    for (size_t e = 0; e < after.size(); ++e) {
      const bool own = update == VAE_UPDATE_ALL || (update == VAE_UPDATE_ENCODER) == (e < split);
      if (!own) {
        EXPECT_EQ(moment[e], 0.0f) << "element " << e;
      }
    }
    EXPECT_EQ(t->counters().encoder_steps, update == VAE_UPDATE_DECODER ? 0 : 3);
    EXPECT_EQ(t->counters().decoder_steps, update == VAE_UPDATE_ENCODER ? 0 : 3);
  }
}

TEST(Training, ZeroKlWeightGivesThePlainAutoencoderReconstructionLoss) {
  Config c = testing::small_config();
  c.kl_weight = 0.0;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  const int64_t n = 6;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 3);
  const auto eps = testing::normal(static_cast<size_t>(n * c.latent_dim), 4);
  std::vector<double> g;
  const double loss = t->loss_and_gradient(x.data(), n, eps.data(), &g);
  // An independent computation through the public calls: encode, z = mu +
  // sigma eps, decode to probabilities, the Bernoulli log-loss by its formula.
  std::vector<float> mu(static_cast<size_t>(n * c.latent_dim)), lv(mu.size()), z(mu.size());
  t->encode(x.data(), n, mu.data(), lv.data());
  for (size_t e = 0; e < z.size(); ++e) z[e] = mu[e] + std::exp(0.5f * lv[e]) * eps[e];
  std::vector<float> p(static_cast<size_t>(n * c.input_dim));
  t->decode(z.data(), n, p.data());
  double direct = 0;
  for (size_t e = 0; e < p.size(); ++e) {
    direct -= x[e] * std::log(static_cast<double>(p[e])) + (1 - x[e]) * std::log1p(-static_cast<double>(p[e]));
  }
  direct /= static_cast<double>(n);
  EXPECT_NEAR(loss, direct, 1e-4 * std::fabs(direct));
  // With beta = 0 nothing pulls the encoder towards the prior: the head's
  // log-variance rows get gradient only through the reconstruction.
  c.kl_weight = 1.0;
  auto with_kl = testing::make_trainer<CpuTrainerD>(c);
  const double elbo_loss = with_kl->loss_and_gradient(x.data(), n, eps.data(), &g);
  EXPECT_GT(elbo_loss, loss);
}

TEST(Training, AdamStepIsPyTorchs) {
  Config c = testing::small_config();
  c.learning_rate = 0.01;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const int64_t n = 6;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 5);
  const auto eps1 = testing::normal(static_cast<size_t>(n * c.latent_dim), 6);
  const auto eps2 = testing::normal(static_cast<size_t>(n * c.latent_dim), 7);
  std::vector<double> m(t->network().layout().total, 0.0), v(m.size(), 0.0);
  std::vector<double> p(m.size());
  const auto p0 = state(*t, StateBuffer::kParameters);
  for (size_t e = 0; e < p.size(); ++e) p[e] = p0[e];
  int step = 0;
  for (const auto* eps : {&eps1, &eps2}) {
    ++step;
    std::vector<double> g;
    t->loss_and_gradient(x.data(), n, eps->data(), &g);
    t->train_step_with_noise(x.data(), n, eps->data(), nullptr);
    // torch.optim.Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    // p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
    const double bc1 = 1 - std::pow(0.9, step), bc2 = 1 - std::pow(0.999, step);
    const auto after = state(*t, StateBuffer::kParameters);
    for (size_t e = 0; e < p.size(); ++e) {
      m[e] = 0.9 * m[e] + 0.1 * g[e];
      v[e] = 0.999 * v[e] + 0.001 * g[e] * g[e];
      p[e] -= 0.01 / bc1 * m[e] / (std::sqrt(v[e]) / std::sqrt(bc2) + 1e-8);
      EXPECT_NEAR(after[e], p[e], 2e-6) << "step " << step << " element " << e;
    }
  }
}

TEST(Training, FloatBackendAgreesWithDouble) {
  Config c = testing::small_config();
  c.samples = 2;
  c.objective = VAE_OBJECTIVE_IWAE;
  auto f = testing::make_trainer<CpuTrainerF>(c);
  auto d = testing::make_trainer<CpuTrainerD>(c);
  const auto x = testing::binary(6 * 12, 8);
  const auto eps = testing::normal(6 * 2 * 3, 9);
  std::vector<double> gf, gd;
  const double lf = f->loss_and_gradient(x.data(), 6, eps.data(), &gf);
  const double ld = d->loss_and_gradient(x.data(), 6, eps.data(), &gd);
  EXPECT_NEAR(lf, ld, 1e-5 * std::fabs(ld));
  double scale = 0;
  for (double g : gd) scale = std::max(scale, std::fabs(g));
  for (size_t e = 0; e < gd.size(); ++e) EXPECT_NEAR(gf[e], gd[e], 1e-5 * scale) << e;
}

TEST(Training, SameSeedAndThreadsGiveBitIdenticalParameters) {
  for (int64_t threads : {1, 2}) {
    Config c = testing::small_config(40, 4, {64, 32}, 32);
    c.threads = threads;
    auto a = testing::make_trainer<CpuTrainerF>(c);
    auto b = testing::make_trainer<CpuTrainerF>(c);
    const auto x = testing::binary(32 * 40, 10);
    for (int step = 0; step < 25; ++step) {
      a->train_step(x.data(), 32, nullptr);
      b->train_step(x.data(), 32, nullptr);
    }
    EXPECT_EQ(state(*a, StateBuffer::kParameters), state(*b, StateBuffer::kParameters));
    EXPECT_EQ(state(*a, StateBuffer::kAdamSecondMoment), state(*b, StateBuffer::kAdamSecondMoment));
  }
  // A different seed is a different run.
  Config c = testing::small_config();
  auto a = testing::make_trainer<CpuTrainerF>(c);
  c.seed = 2;
  auto b = testing::make_trainer<CpuTrainerF>(c);
  EXPECT_NE(state(*a, StateBuffer::kParameters), state(*b, StateBuffer::kParameters));
}

TEST(Training, DistinctTrainersTrainInDistinctThreadsAtOnce) {
  // Two trainers with different thread counts, trained at the same time in
  // two threads, end exactly where each ends when trained alone.
  Config one = testing::small_config(300, 8, {256}, 64);
  Config two = one;
  two.threads = 2;
  two.seed = 9;
  const auto x = testing::binary(64 * 300, 14);
  auto train = [&x](Trainer& t) {
    for (int step = 0; step < 30; ++step) t.train_step(x.data(), 64, nullptr);
  };
  auto alone_one = Trainer::create(one);
  auto alone_two = Trainer::create(two);
  train(*alone_one);
  train(*alone_two);
  auto together_one = Trainer::create(one);
  auto together_two = Trainer::create(two);
  std::thread first([&] { train(*together_one); });
  std::thread second([&] { train(*together_two); });
  first.join();
  second.join();
  EXPECT_EQ(state(*alone_one, StateBuffer::kParameters), state(*together_one, StateBuffer::kParameters));
  EXPECT_EQ(state(*alone_two, StateBuffer::kParameters), state(*together_two, StateBuffer::kParameters));
}

TEST(Training, SaveLoadAndContinueIsBitIdentical) {
  Config c = testing::small_config(16, 3, {24}, 8);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_LEARNED_SHARED;
  c.samples = 2;
  auto straight = Trainer::create(c);
  auto interrupted = Trainer::create(c);
  const auto bytes_u = testing::uniform(40 * 16, 11, 0.0f, 255.99f);
  std::vector<uint8_t> bytes(bytes_u.size());
  for (size_t e = 0; e < bytes.size(); ++e) bytes[e] = static_cast<uint8_t>(bytes_u[e]);
  auto ds_straight = straight->create_dataset(bytes.data(), 40, VAE_BYTES_DEQUANTIZE);
  auto ds_interrupted = interrupted->create_dataset(bytes.data(), 40, VAE_BYTES_DEQUANTIZE);
  for (int epoch = 0; epoch < 2; ++epoch) {
    straight->train_epoch(*ds_straight, 7, nullptr);
    interrupted->train_epoch(*ds_interrupted, 7, nullptr);
  }
  const std::string path = ::testing::TempDir() + "/vae_resume_test.safetensors";
  interrupted->save(path);
  ds_interrupted.reset();
  interrupted.reset();
  auto resumed = Trainer::load(path, VAE_BACKEND_CPU);
  auto ds_resumed = resumed->create_dataset(bytes.data(), 40, VAE_BYTES_DEQUANTIZE);
  EXPECT_EQ(resumed->counters().epochs, 2);
  for (int epoch = 0; epoch < 2; ++epoch) {
    straight->train_epoch(*ds_straight, 7, nullptr);
    resumed->train_epoch(*ds_resumed, 7, nullptr);
  }
  for (StateBuffer b : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                        StateBuffer::kAdamSecondMoment}) {
    EXPECT_EQ(state(*straight, b), state(*resumed, b));
  }
  EXPECT_EQ(straight->counters().steps, resumed->counters().steps);
  std::remove(path.c_str());
}

TEST(Training, NonFiniteStepChangesNothing) {
  Config c = testing::small_config();
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const auto good = testing::binary(6 * 12, 12);
  t->train_step(good.data(), 6, nullptr);
  const auto params = state(*t, StateBuffer::kParameters);
  const auto m = state(*t, StateBuffer::kAdamFirstMoment);
  const auto v = state(*t, StateBuffer::kAdamSecondMoment);
  // Finite data whose squared error overflows float: the loss is infinite.
  auto bad = good;
  bad[17] = 3e38f;
  try {
    t->train_step(bad.data(), 6, nullptr);
    FAIL() << "a step with an infinite loss trained";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_NUMERICAL);
  }
  bad[17] = -3e38f;
  EXPECT_THROW(t->train_step(bad.data(), 6, nullptr), Error);
  EXPECT_EQ(params, state(*t, StateBuffer::kParameters));
  EXPECT_EQ(m, state(*t, StateBuffer::kAdamFirstMoment));
  EXPECT_EQ(v, state(*t, StateBuffer::kAdamSecondMoment));
  EXPECT_EQ(t->counters().steps, 1);
  // And training goes on from there as if the failed steps never happened.
  auto twin = testing::make_trainer<CpuTrainerF>(c);
  twin->train_step(good.data(), 6, nullptr);
  twin->train_step(good.data(), 6, nullptr);
  t->train_step(good.data(), 6, nullptr);
  EXPECT_EQ(state(*twin, StateBuffer::kParameters), state(*t, StateBuffer::kParameters));
}

TEST(Training, EpochCoversEveryRowOnceIncludingThePartialBatch) {
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const auto x = testing::binary(23 * 12, 13);
  auto ds = t->create_dataset(x.data(), 23);
  float loss = 0;
  t->train_epoch(*ds, 5, &loss);
  EXPECT_EQ(t->counters().steps, 5);  // 5 + 5 + 5 + 5 + 3 rows
  EXPECT_TRUE(std::isfinite(loss));
  std::vector<int64_t> seen(ds->order, ds->order + 23);
  // The progress callback saw every step: rows so far, the total, the running mean.
  struct Calls {
    std::vector<int64_t> rows;
    double last_mean = 0;
  } calls;
  t->set_progress(
      [](void* user, int64_t done, int64_t total, double mean) {
        auto* seen_calls = static_cast<Calls*>(user);
        seen_calls->rows.push_back(done);
        seen_calls->last_mean = mean;
        EXPECT_EQ(total, 23);
      },
      &calls);
  t->train_epoch(*ds, 5, &loss);
  EXPECT_EQ(calls.rows, (std::vector<int64_t>{5, 10, 15, 20, 23}));
  EXPECT_FLOAT_EQ(static_cast<float>(calls.last_mean), loss);
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 23; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
}

}  // namespace
}  // namespace vae
