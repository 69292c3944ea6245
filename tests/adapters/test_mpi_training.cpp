// Data-parallel training across processes with the vae_mpi adapter, run by
// ctest as `mpirun -np 2`: every rank runs every test, in the same order.
// Each rank also trains a trainer of its own on the whole batch, the
// one-process run the ranks must match. Through the public C API only.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "mpi_test_support.h"
#include "vae/vae.h"
#include "vae/vae_mpi.h"

namespace {

using vae_mpi_test::rank;
using vae_mpi_test::same_on_every_rank;
using vae_mpi_test::size;

constexpr int64_t kDim = 64;
constexpr int64_t kBatch = 128;

// A 64-32-8 Bernoulli model with a batch of up to max_batch rows.
vae_trainer* make_trainer(int64_t max_batch) {
  vae_config* c = nullptr;
  EXPECT_EQ(vae_config_create(&c), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, 8), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, max_batch), VAE_OK);
  const int32_t hidden[] = {32};
  EXPECT_EQ(vae_config_set_hidden_layers(c, hidden, 1), VAE_OK);
  vae_trainer* t = nullptr;
  EXPECT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(c);
  return t;
}

// A trainer that is this process's rank of MPI_COMM_WORLD.
struct RankTrainer {
  explicit RankTrainer(int64_t max_batch) : t(make_trainer(max_batch)) {
    EXPECT_EQ(vae_mpi_create(MPI_COMM_WORLD, &group), VAE_OK) << vae_mpi_last_error();
    EXPECT_EQ(vae_mpi_attach(group, t), VAE_OK) << vae_mpi_last_error();
  }
  ~RankTrainer() {
    vae_destroy(t);
    vae_mpi_destroy(group);
  }
  RankTrainer(const RankTrainer&) = delete;
  RankTrainer& operator=(const RankTrainer&) = delete;
  vae_trainer* t;
  vae_mpi* group = nullptr;
};

std::vector<float> parameters(vae_trainer* t) {
  int64_t count = 0;
  EXPECT_EQ(vae_parameter_count(t, &count), VAE_OK);
  std::vector<float> p(static_cast<size_t>(count));
  EXPECT_EQ(vae_get_parameters(t, p.data(), count), VAE_OK);
  return p;
}

// max |a - b| / max |b|.
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t e = 0; e < b.size(); ++e) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[e]) - b[e]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[e])));
  }
  return diff / scale;
}

// The same binary batch on every rank, from the step number.
std::vector<float> batch(int64_t step) {
  std::mt19937 rng(static_cast<uint32_t>(1000 + step));
  std::bernoulli_distribution bit(0.3);
  std::vector<float> x(static_cast<size_t>(kBatch * kDim));
  for (float& v : x) v = bit(rng) ? 1.0f : 0.0f;
  return x;
}

// This rank's half of a batch of kBatch rows.
const float* my_part(const std::vector<float>& x) {
  return x.data() + rank() * (kBatch / size()) * kDim;
}

TEST(MpiTraining, TheWorldHasTwoRanks) {
  ASSERT_EQ(size(), 2) << "run with mpirun -np 2";
  RankTrainer r(kBatch / 2);
  EXPECT_EQ(vae_mpi_rank(r.group), rank());
  EXPECT_EQ(vae_mpi_size(r.group), 2);
  int64_t value = -1;
  EXPECT_EQ(vae_get_int(r.t, VAE_OPT_WORLD_SIZE, &value), VAE_OK);
  EXPECT_EQ(value, 2);
  EXPECT_EQ(vae_get_int(r.t, VAE_OPT_RANK, &value), VAE_OK);
  EXPECT_EQ(value, rank());
}

// 2 ranks at batch 64 each against 1 process at batch 128, same seed. The
// ranks sum each gradient element's terms in another order than one process
// does (each rank its half, then the two halves), so after one step the
// parameters differ by float rounding of those sums, which one Adam step
// carries over: within 1e-6 of their scale. Over 50 steps the rounding
// differences are fed back through the network and through Adam's division
// by sqrt(v), and grow, but the losses stay within 1e-4 relative. The
// ranks apply the same summed gradient, so they are bit-identical to each
// other after every step.
TEST(MpiTraining, TwoRanksAtBatch64MatchOneProcessAtBatch128) {
  RankTrainer r(kBatch / 2);
  vae_trainer* whole = make_trainer(kBatch);
  double worst_loss = 0, first_step = 0;
  for (int64_t step = 0; step < 50; ++step) {
    const std::vector<float> x = batch(step);
    float loss = 0, whole_loss = 0;
    ASSERT_EQ(vae_train_step(r.t, my_part(x), kBatch / 2, &loss), VAE_OK) << vae_last_error();
    ASSERT_EQ(vae_train_step(whole, x.data(), kBatch, &whole_loss), VAE_OK);
    worst_loss = std::max(worst_loss, std::fabs(static_cast<double>(loss) - whole_loss) /
                                          std::fabs(static_cast<double>(whole_loss)));
    const std::vector<float> p = parameters(r.t);
    EXPECT_TRUE(same_on_every_rank(p)) << "the ranks differ after step " << step;
    if (step == 0) {
      first_step = relative_difference(p, parameters(whole));
      EXPECT_LE(first_step, 1e-6);
    }
  }
  EXPECT_LE(worst_loss, 1e-4);
  if (rank() == 0) {
    std::printf("[          ] parameters after 1 step within %.2g of their scale, after 50 %.2g; "
                "losses within %.2g relative\n",
                first_step, relative_difference(parameters(r.t), parameters(whole)), worst_loss);
  }
  vae_destroy(whole);
}

// An epoch of 1001 byte rows (binarized anew at each use) in batches of 128:
// the last batch has 105 rows, 52 on rank 0 and 53 on rank 1.
TEST(MpiTraining, AnEpochWithAnUnevenLastBatchMatchesOneProcess) {
  constexpr int64_t kRows = 1001;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> y(static_cast<size_t>(kRows * kDim));
  for (uint8_t& v : y) v = static_cast<uint8_t>(byte(rng));
  RankTrainer r(kBatch / 2);
  vae_trainer* whole = make_trainer(kBatch);
  vae_dataset* ds = nullptr;
  vae_dataset* whole_ds = nullptr;
  ASSERT_EQ(vae_dataset_create_u8(r.t, y.data(), kRows, VAE_BYTES_BINARIZE, &ds), VAE_OK);
  ASSERT_EQ(vae_dataset_create_u8(whole, y.data(), kRows, VAE_BYTES_BINARIZE, &whole_ds), VAE_OK);
  for (int epoch = 0; epoch < 2; ++epoch) {
    float mean = 0, whole_mean = 0;
    ASSERT_EQ(vae_train_epoch(r.t, ds, kBatch, &mean), VAE_OK) << vae_last_error();
    ASSERT_EQ(vae_train_epoch(whole, whole_ds, kBatch, &whole_mean), VAE_OK);
    EXPECT_TRUE(same_on_every_rank({mean}));
    EXPECT_LE(std::fabs(mean - whole_mean), 1e-5 * std::fabs(whole_mean)) << epoch;
  }
  const std::vector<float> p = parameters(r.t);
  EXPECT_TRUE(same_on_every_rank(p));
  EXPECT_LE(relative_difference(p, parameters(whole)), 1e-5);
  int64_t steps = 0;
  EXPECT_EQ(vae_get_int(r.t, VAE_OPT_STEPS, &steps), VAE_OK);
  EXPECT_EQ(steps, 16);  // 8 batches per epoch
  vae_dataset_destroy(ds);
  vae_dataset_destroy(whole_ds);
  vae_destroy(whole);
}

// Rank 1's half holds a NaN: it refuses its part (naming the row and column
// of its own array), rank 0 hears of it as a skipped step, and neither
// changes anything.
TEST(MpiTraining, ANonFiniteBatchOnOneRankMakesEveryRankSkip) {
  RankTrainer r(kBatch / 2);
  std::vector<float> x = batch(0);
  if (rank() == 1) x[static_cast<size_t>((kBatch / 2 + 5) * kDim + 7)] = NAN;  // its row 5
  const std::vector<float> before = parameters(r.t);
  float loss = -1.0f;
  const vae_status status = vae_train_step(r.t, my_part(x), kBatch / 2, &loss);
  if (rank() == 1) {
    EXPECT_EQ(status, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(vae_last_error()).find("row 5, column 7"), std::string::npos)
        << vae_last_error();
  } else {
    EXPECT_EQ(status, VAE_ERROR_NUMERICAL);
    EXPECT_NE(std::string(vae_last_error()).find("refused its part"), std::string::npos)
        << vae_last_error();
  }
  EXPECT_EQ(loss, -1.0f);
  EXPECT_EQ(parameters(r.t), before);
  int64_t steps = -1, skipped = -1;
  EXPECT_EQ(vae_get_int(r.t, VAE_OPT_STEPS, &steps), VAE_OK);
  EXPECT_EQ(vae_get_int(r.t, VAE_OPT_SKIPPED_STEPS, &skipped), VAE_OK);
  EXPECT_EQ(steps, 0);
  EXPECT_EQ(skipped, 1);
  // Then both train on.
  const std::vector<float> good = batch(1);
  EXPECT_EQ(vae_train_step(r.t, my_part(good), kBatch / 2, &loss), VAE_OK) << vae_last_error();
  EXPECT_TRUE(same_on_every_rank(parameters(r.t)));
}

// Rank 0 saves a 2-rank run. Every rank resumes from the file and trains on
// as the ranks that never stopped do, bit for bit; and one process resumes
// from it on the whole batch and computes what they compute. (The maximum
// batch is the checkpoint's: the ranks' trainers take the whole batch's, so
// that one process can resume.)
TEST(MpiTraining, ACheckpointOfTwoRanksResumesOnTwoRanksAndOnOne) {
  RankTrainer r(kBatch);
  for (int64_t step = 0; step < 3; ++step) {
    const std::vector<float> x = batch(100 + step);
    ASSERT_EQ(vae_train_step(r.t, my_part(x), kBatch / 2, nullptr), VAE_OK);
  }
  const std::string path = vae_mpi_test::shared_path("mpi_checkpoint");
  if (rank() == 0) {
    EXPECT_EQ(vae_save(r.t, path.c_str()), VAE_OK);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  vae_trainer* resumed = nullptr;
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &resumed), VAE_OK) << vae_last_error();
  EXPECT_EQ(vae_mpi_attach(r.group, resumed), VAE_OK) << vae_mpi_last_error();
  vae_trainer* alone = nullptr;
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &alone), VAE_OK);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank() == 0) std::filesystem::remove(path);
  for (int64_t step = 3; step < 6; ++step) {
    const std::vector<float> x = batch(100 + step);
    ASSERT_EQ(vae_train_step(r.t, my_part(x), kBatch / 2, nullptr), VAE_OK);
    ASSERT_EQ(vae_train_step(resumed, my_part(x), kBatch / 2, nullptr), VAE_OK);
    ASSERT_EQ(vae_train_step(alone, x.data(), kBatch, nullptr), VAE_OK) << vae_last_error();
  }
  const std::vector<float> p = parameters(r.t);
  EXPECT_EQ(parameters(resumed), p);
  EXPECT_TRUE(same_on_every_rank(parameters(resumed)));
  EXPECT_LE(relative_difference(parameters(alone), p), 1e-5);
  vae_destroy(resumed);
  vae_destroy(alone);
}

// Prints rank 1's failures (rank 0's printer shows its own).
class FailurePrinter : public ::testing::EmptyTestEventListener {
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (result.failed()) {
      std::fprintf(stderr, "rank %d: %s:%d: %s\n", rank(), result.file_name(),
                   result.line_number(), result.summary());
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (rank() != 0) {
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter);
  }
  const int failed = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
