// Data-parallel training (vae_set_allreduce) without MPI: W trainers in W
// threads, their hook a sum in rank order (thread_ranks.h). N ranks on parts
// of a batch compute what one process computes on the whole batch, up to the
// order of the float sums: the noise of a row is keyed by its place in the
// batch, every gradient is divided by the batch's rows, and the ranks take
// the same Adam step. tests/adapters/ runs the same checks across processes
// with MPI.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "test_support.h"
#include "thread_ranks.h"

namespace vae {
namespace {

using testing::CpuTrainerF;
using testing::ThreadRanks;

// K = 2 samples, so the noise layout of several samples per row is checked.
Config shared_config(int64_t max_batch) {
  Config c = testing::small_config(12, 3, {7, 5}, max_batch);
  c.samples = 2;
  return c;
}

std::unique_ptr<CpuTrainerF> rank_trainer(Config c, ThreadRanks& ranks, int rank) {
  c.world_size = ranks.world();
  c.rank = rank;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  t->set_allreduce(&ThreadRanks::hook, ranks.member(rank));
  return t;
}

std::vector<float> parameters(const Trainer& t) { return t.read_state(StateBuffer::kParameters); }

// max |a - b| / max |b|: the difference relative to the vector's scale.
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t e = 0; e < b.size(); ++e) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[e]) - b[e]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[e])));
  }
  return diff / scale;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Rows of rank r of a batch of W n rows: rows r n .. r n + n - 1.
const float* part(const std::vector<float>& batch, int rank, int64_t n, int64_t dim) {
  return batch.data() + rank * n * dim;
}

TEST(DataParallel, OneRankWithAHookTrainsBitForBitAsWithout) {
  const Config c = shared_config(6);
  ThreadRanks ranks(1);
  auto shared = rank_trainer(c, ranks, 0);
  auto alone = testing::make_trainer<CpuTrainerF>(c);
  for (int step = 0; step < 5; ++step) {
    const auto x = testing::binary(6 * 12, 100 + step);
    float shared_loss = 0, alone_loss = 0;
    shared->train_step(x.data(), 6, &shared_loss);
    alone->train_step(x.data(), 6, &alone_loss);
    EXPECT_EQ(shared_loss, alone_loss) << step;
  }
  EXPECT_TRUE(same_bits(parameters(*shared), parameters(*alone)));
  EXPECT_EQ(ranks.calls(), 5);
  EXPECT_EQ(shared->counters().steps, 5);
}

// The check: 2 ranks at half the batch against one process at the
// whole batch, from the same seed. After one step the parameters agree to
// what the order of the sums allows: each gradient element is a sum of
// terms that both runs compute alike, added in another order (the ranks'
// halves, then the two halves), so they differ by float rounding, a few
// 1e-8 relative; one Adam step moves each parameter by about lr, and
// carries that difference over. Over 50 steps the differences grow through
// Adam's division by sqrt(v) for elements whose gradient is near zero,
// then through the network, but the losses stay within 1e-4 relative. The
// ranks themselves apply the same summed gradient: bit-identical.
TEST(DataParallel, TwoRanksAtHalfTheBatchMatchOneProcess) {
  constexpr int64_t kHalf = 3, kSteps = 50;
  const Config c = shared_config(2 * kHalf);
  ThreadRanks ranks(2);
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  for (int r = 0; r < 2; ++r) t.push_back(rank_trainer(c, ranks, r));
  auto whole = testing::make_trainer<CpuTrainerF>(c);
  for (int64_t step = 0; step < kSteps; ++step) {
    const auto x = testing::binary(2 * kHalf * 12, 200 + static_cast<uint32_t>(step));
    float loss[2] = {0, 0}, whole_loss = 0;
    ranks.run([&](int r) { t[r]->train_step(part(x, r, kHalf, 12), kHalf, &loss[r]); });
    whole->train_step(x.data(), 2 * kHalf, &whole_loss);
    EXPECT_EQ(loss[0], loss[1]);
    EXPECT_LE(std::fabs(loss[0] - whole_loss), 1e-4 * std::fabs(whole_loss)) << step;
    const auto p0 = parameters(*t[0]);
    EXPECT_TRUE(same_bits(p0, parameters(*t[1]))) << "ranks differ after step " << step;
    if (step == 0) {
      EXPECT_LE(relative_difference(p0, parameters(*whole)), 1e-6);
    }
  }
  EXPECT_LE(relative_difference(parameters(*t[0]), parameters(*whole)), 1e-3);
}

// An epoch over a byte dataset (binarized anew at each use, so the byte
// noise is keyed by the row's place in the batch too) of 50 rows in batches
// of 8 on 3 ranks: parts of 2, 3 and 3 rows, and a last batch of 2 rows in
// which rank 0's part is empty. The ranks' epoch is the one-process epoch.
TEST(DataParallel, AnEpochOnThreeRanksWithAnUnevenLastBatchMatchesOneProcess) {
  constexpr int64_t kRows = 50, kBatch = 8;
  const Config c = shared_config(kBatch);
  std::vector<uint8_t> bytes(static_cast<size_t>(kRows * 12));
  const auto u = testing::uniform(bytes.size(), 31);
  for (size_t e = 0; e < bytes.size(); ++e) bytes[e] = static_cast<uint8_t>(u[e] * 255.0f);
  ThreadRanks ranks(3);
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  std::vector<std::unique_ptr<Dataset>> ds;
  for (int r = 0; r < 3; ++r) {
    t.push_back(rank_trainer(c, ranks, r));
    ds.push_back(t[r]->create_dataset(bytes.data(), kRows, VAE_BYTES_BINARIZE));
  }
  auto whole = testing::make_trainer<CpuTrainerF>(c);
  auto whole_ds = whole->create_dataset(bytes.data(), kRows, VAE_BYTES_BINARIZE);
  struct Progress {
    std::vector<int64_t> rows;
  } progress[3];
  for (int r = 0; r < 3; ++r) {
    t[r]->set_progress(
        [](void* user, int64_t done, int64_t, double) {
          static_cast<Progress*>(user)->rows.push_back(done);
        },
        &progress[r]);
  }
  for (int epoch = 0; epoch < 2; ++epoch) {
    float mean[3] = {0, 0, 0}, whole_mean = 0;
    ranks.run([&](int r) { t[r]->train_epoch(*ds[r], kBatch, &mean[r]); });
    whole->train_epoch(*whole_ds, kBatch, &whole_mean);
    EXPECT_EQ(mean[0], mean[1]);
    EXPECT_EQ(mean[0], mean[2]);
    EXPECT_LE(std::fabs(mean[0] - whole_mean), 1e-5 * std::fabs(whole_mean)) << epoch;
  }
  const auto p0 = parameters(*t[0]);
  EXPECT_TRUE(same_bits(p0, parameters(*t[1])));
  EXPECT_TRUE(same_bits(p0, parameters(*t[2])));
  EXPECT_LE(relative_difference(p0, parameters(*whole)), 1e-5);
  EXPECT_EQ(t[0]->counters().steps, 14);
  EXPECT_EQ(ranks.calls(), 14);
  // The progress callback counts the whole batch's rows on every rank.
  const std::vector<int64_t> expected = {8, 16, 24, 32, 40, 48, 50};
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(std::vector<int64_t>(progress[r].rows.begin(), progress[r].rows.begin() + 7),
              expected);
  }
}

// The batch of a shared epoch may be up to world size * max batch rows.
TEST(DataParallel, ASharedEpochTakesUpToTheWorldSizeTimesTheMaximumBatch) {
  const Config c = shared_config(4);
  ThreadRanks ranks(2);
  const auto x = testing::binary(20 * 12, 41);
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  std::vector<std::unique_ptr<Dataset>> ds;
  for (int r = 0; r < 2; ++r) {
    t.push_back(rank_trainer(c, ranks, r));
    ds.push_back(t[r]->create_dataset(x.data(), 20));
  }
  try {
    t[0]->train_epoch(*ds[0], 9, nullptr);
    FAIL() << "a batch of 9 rows was taken by 2 ranks of at most 4 rows";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("[1, 8]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ranks.calls(), 0);
  ranks.run([&](int r) { t[r]->train_epoch(*ds[r], 8, nullptr); });
  EXPECT_EQ(t[1]->counters().steps, 3);
}

// vae_interrupt on one rank stops every rank at the same step: the rank
// asks in its part of the next step, and all read the summed request at
// the same progress point. The steps taken stay, no rank counts the epoch,
// the ranks stay alike, and the next epoch runs whole on all.
TEST(DataParallel, AnInterruptOfOneRankStopsEveryRankAtTheSameStep) {
  const Config c = shared_config(4);
  ThreadRanks ranks(2);
  const auto x = testing::binary(48 * 12, 43);
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  std::vector<std::unique_ptr<Dataset>> ds;
  for (int r = 0; r < 2; ++r) {
    t.push_back(rank_trainer(c, ranks, r));
    ds.push_back(t[r]->create_dataset(x.data(), 48));
  }
  t[0]->set_progress(
      [](void* user, int64_t, int64_t, double) { static_cast<Trainer*>(user)->interrupt(); },
      t[0].get());
  std::vector<vae_status> status(2, VAE_OK);
  std::vector<std::string> message(2);
  ranks.run([&](int r) {
    try {
      t[r]->train_epoch(*ds[r], 8, nullptr);
    } catch (const Error& e) {
      status[r] = e.status();
      message[r] = e.what();
    }
  });
  // Interrupted in the progress call after step 1; asked in step 2; read
  // after step 2 by both ranks.
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(status[r], VAE_ERROR_INTERRUPTED) << r;
    EXPECT_NE(message[r].find("on 1 of the 2 ranks"), std::string::npos) << message[r];
    EXPECT_NE(message[r].find("before step 3 of 6"), std::string::npos) << message[r];
    EXPECT_EQ(t[r]->counters().steps, 2) << r;
    EXPECT_EQ(t[r]->counters().epochs, 0) << r;
  }
  EXPECT_EQ(ranks.calls(), 2);
  EXPECT_TRUE(same_bits(parameters(*t[0]), parameters(*t[1])));
  t[0]->set_progress(nullptr, nullptr);
  ranks.run([&](int r) { t[r]->train_epoch(*ds[r], 8, nullptr); });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(t[r]->counters().steps, 8) << r;
    EXPECT_EQ(t[r]->counters().epochs, 1) << r;
  }
  EXPECT_TRUE(same_bits(parameters(*t[0]), parameters(*t[1])));
}

// Rank 0 saves after 2-rank steps; one process resumes from the file on the
// whole batch, and computes what the two ranks compute going on.
TEST(DataParallel, ATwoRankCheckpointResumesOnOneProcess) {
  constexpr int64_t kHalf = 3;
  const Config c = shared_config(2 * kHalf);
  ThreadRanks ranks(2);
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  for (int r = 0; r < 2; ++r) t.push_back(rank_trainer(c, ranks, r));
  const auto batch = [](int64_t step) {
    return testing::binary(2 * kHalf * 12, 300 + static_cast<uint32_t>(step));
  };
  for (int64_t step = 0; step < 4; ++step) {
    const auto x = batch(step);
    ranks.run([&](int r) { t[r]->train_step(part(x, r, kHalf, 12), kHalf, nullptr); });
  }
  const std::string path = testing::temp_path("data_parallel_resume");
  t[0]->save(path);
  auto resumed = Trainer::load(path, VAE_BACKEND_CPU);
  std::filesystem::remove(path);
  EXPECT_EQ(resumed->config().world_size, 1);
  EXPECT_EQ(resumed->config().rank, 0);
  EXPECT_EQ(resumed->counters().steps, 4);
  EXPECT_TRUE(same_bits(resumed->read_state(StateBuffer::kParameters), parameters(*t[0])));
  for (int64_t step = 4; step < 8; ++step) {
    const auto x = batch(step);
    ranks.run([&](int r) { t[r]->train_step(part(x, r, kHalf, 12), kHalf, nullptr); });
    resumed->train_step(x.data(), 2 * kHalf, nullptr);
  }
  EXPECT_LE(relative_difference(resumed->read_state(StateBuffer::kParameters), parameters(*t[0])),
            1e-5);
  EXPECT_EQ(resumed->counters().steps, t[0]->counters().steps);
}

// The opposite way: one process's checkpoint, loaded by two ranks that set
// their world size and rank on the live trainers.
TEST(DataParallel, ALoadedTrainerJoinsRanksThroughItsLiveOptions) {
  const Config c = shared_config(6);
  auto alone = testing::make_trainer<CpuTrainerF>(c);
  const auto x = testing::binary(6 * 12, 51);
  alone->train_step(x.data(), 6, nullptr);
  const std::string path = testing::temp_path("data_parallel_join");
  alone->save(path);
  ThreadRanks ranks(2);
  std::vector<std::unique_ptr<Trainer>> t;
  for (int r = 0; r < 2; ++r) {
    t.push_back(Trainer::load(path, VAE_BACKEND_CPU));
    EXPECT_THROW(t[r]->set_int(VAE_OPT_RANK, 1), Error);  // above the world size of 1
    t[r]->set_int(VAE_OPT_WORLD_SIZE, 2);
    t[r]->set_int(VAE_OPT_RANK, r);
    t[r]->set_allreduce(&ThreadRanks::hook, ranks.member(r));
  }
  std::filesystem::remove(path);
  float loss[2] = {0, 0}, alone_loss = 0;
  ranks.run([&](int r) { t[r]->train_step(part(x, r, 3, 12), 3, &loss[r]); });
  alone->train_step(x.data(), 6, &alone_loss);
  EXPECT_EQ(loss[0], loss[1]);
  EXPECT_LE(std::fabs(loss[0] - alone_loss), 1e-5 * std::fabs(alone_loss));
  EXPECT_LE(relative_difference(t[0]->read_state(StateBuffer::kParameters), parameters(*alone)),
            1e-6);
  EXPECT_THROW(t[1]->set_int(VAE_OPT_WORLD_SIZE, 1), Error);  // rank 1 would not fit
}

}  // namespace
}  // namespace vae
