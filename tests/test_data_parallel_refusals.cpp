// Data-parallel training (vae_set_allreduce) when something is wrong: a
// rank's input that is not finite, a rank that refuses its arguments, ranks
// that disagree about the step, a hook that fails or does not sum, a world
// size without a hook. Every rank decides alike from the summed buffer, so
// the ranks skip together and stay alike, and no rank waits for another
// that gave up; a failed hook changes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "shared_step.h"
#include "test_support.h"
#include "thread_ranks.h"

namespace vae {
namespace {

using testing::CpuTrainerF;
using testing::ThreadRanks;

constexpr int64_t kDim = 12;

std::unique_ptr<CpuTrainerF> rank_trainer(Config c, ThreadRanks& ranks, int rank) {
  c.world_size = ranks.world();
  c.rank = rank;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  t->set_allreduce(&ThreadRanks::hook, ranks.member(rank));
  return t;
}

struct State {
  explicit State(const Trainer& t)
      : params(t.read_state(StateBuffer::kParameters)),
        m(t.read_state(StateBuffer::kAdamFirstMoment)),
        counters(t.counters()) {}
  bool same_as(const Trainer& t) const {
    const State now(t);
    return now.params == params && now.m == m && now.counters.steps == counters.steps;
  }
  std::vector<float> params, m;
  Counters counters;
};

// Runs f on a trainer and returns the status it threw (VAE_OK if none) and
// its message.
template <class F>
std::pair<vae_status, std::string> outcome(F&& f) {
  try {
    f();
    return {VAE_OK, ""};
  } catch (const Error& e) {
    return {e.status(), e.what()};
  }
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Two ranks, each with its part of a good batch; run(rank, x) makes rank's
// step and records what it threw.
struct TwoRanks {
  explicit TwoRanks(const Config& c) : ranks(2) {
    for (int r = 0; r < 2; ++r) t.push_back(rank_trainer(c, ranks, r));
  }
  template <class Step>
  void run(Step&& step) {
    ranks.run([&](int r) { result[r] = outcome([&] { step(r, *t[static_cast<size_t>(r)]); }); });
  }
  ThreadRanks ranks;
  std::vector<std::unique_ptr<CpuTrainerF>> t;
  std::pair<vae_status, std::string> result[2];
};

TEST(DataParallelRefusals, ARankWithInputThatIsNotFiniteMakesEveryRankSkip) {
  TwoRanks two(testing::small_config());
  const auto good = testing::binary(3 * kDim, 1);
  auto bad = good;
  bad[static_cast<size_t>(1 * kDim + 2)] = NAN;  // row 1, column 2 of rank 1's part
  const State before0(*two.t[0]), before1(*two.t[1]);
  float loss = -1.0f;
  two.run([&](int r, Trainer& t) { t.train_step(r == 0 ? good.data() : bad.data(), 3, &loss); });
  EXPECT_EQ(two.result[1].first, VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(two.result[1].second, "row 1, column 2")) << two.result[1].second;
  EXPECT_EQ(two.result[0].first, VAE_ERROR_NUMERICAL);
  EXPECT_TRUE(has(two.result[0].second, "1 rank refused its part")) << two.result[0].second;
  EXPECT_EQ(loss, -1.0f);
  EXPECT_TRUE(before0.same_as(*two.t[0]));
  EXPECT_TRUE(before1.same_as(*two.t[1]));
  for (const auto& t : two.t) EXPECT_EQ(t->counters().skipped_steps, 1);
  // Reported once; the next step is taken by both.
  two.run([&](int, Trainer& t) { t.train_step(good.data(), 3, nullptr); });
  EXPECT_EQ(two.result[0].first, VAE_OK) << two.result[0].second;
  EXPECT_EQ(two.result[1].first, VAE_OK) << two.result[1].second;
  EXPECT_EQ(two.t[0]->counters().steps, 1);
  EXPECT_EQ(two.t[0]->read_state(StateBuffer::kParameters),
            two.t[1]->read_state(StateBuffer::kParameters));
}

TEST(DataParallelRefusals, ALossThatOverflowsOnOneRankIsSkippedByEvery) {
  Config c = testing::small_config();
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  TwoRanks two(c);
  const auto good = testing::normal(3 * kDim, 2);
  const std::vector<float> huge(good.size(), 1e30f);
  const State before(*two.t[0]);
  two.run([&](int r, Trainer& t) { t.train_step(r == 1 ? huge.data() : good.data(), 3, nullptr); });
  EXPECT_EQ(two.result[0].first, VAE_OK);
  EXPECT_TRUE(before.same_as(*two.t[0]));
  for (const auto& t : two.t) EXPECT_EQ(t->counters().skipped_steps, 1);
  float loss = 0;
  two.run([&](int, Trainer& t) { t.train_step(good.data(), 3, &loss); });
  for (const auto& r : two.result) {
    EXPECT_EQ(r.first, VAE_ERROR_NUMERICAL);
    EXPECT_TRUE(has(r.second, "earlier")) << r.second;
  }
}

TEST(DataParallelRefusals, ARankThatRefusesItsArgumentsStillTakesPart) {
  TwoRanks two(testing::small_config());
  const auto good = testing::binary(3 * kDim, 3);
  two.run([&](int r, Trainer& t) { t.train_step(r == 1 ? nullptr : good.data(), 3, nullptr); });
  EXPECT_EQ(two.result[1].first, VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(two.result[1].second, "x: NULL")) << two.result[1].second;
  EXPECT_EQ(two.result[0].first, VAE_OK);  // queued without a loss pointer: reported later
  two.run([&](int r, Trainer& t) { t.train_step(good.data(), r == 1 ? 99 : 3, nullptr); });
  EXPECT_EQ(two.result[1].first, VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(two.result[1].second, "n: must be in [1, 6], got 99")) << two.result[1].second;
  for (const auto& t : two.t) {
    EXPECT_EQ(t->counters().steps, 0);
    EXPECT_EQ(t->counters().skipped_steps, 2);
  }
  float loss = 0;
  two.run([&](int, Trainer& t) { t.train_step(good.data(), 3, &loss); });
  EXPECT_EQ(two.result[0].first, VAE_ERROR_NUMERICAL);
  EXPECT_TRUE(has(two.result[0].second, "2 of them")) << two.result[0].second;
  EXPECT_EQ(two.result[1].first, VAE_OK) << two.result[1].second;  // its refusals were its report
}

TEST(DataParallelRefusals, RanksThatDisagreeAboutTheStepRefuseItTogether) {
  TwoRanks two(testing::small_config());
  const auto x = testing::binary(3 * kDim, 4);
  const State before(*two.t[0]);
  two.run([&](int r, Trainer& t) { t.train_step(x.data(), r == 0 ? 3 : 2, nullptr); });
  for (const auto& r : two.result) EXPECT_EQ(r.first, VAE_OK);  // not waited for
  float loss = 0;
  two.run([&](int, Trainer& t) { t.train_step(x.data(), 3, &loss); });
  for (const auto& r : two.result) {
    EXPECT_EQ(r.first, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(has(r.second, "disagree about the step's layout")) << r.second;
  }
  EXPECT_EQ(two.t[0]->counters().steps, 1);  // the second step agreed and was taken
  two.t[1]->set_float(VAE_OPT_LEARNING_RATE, 0.5);
  two.run([&](int, Trainer& t) { t.train_step(x.data(), 3, &loss); });
  for (const auto& r : two.result) {
    EXPECT_EQ(r.first, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(has(r.second, "their training options")) << r.second;
    EXPECT_FALSE(has(r.second, "layout")) << r.second;
  }
  for (const auto& t : two.t) {
    EXPECT_EQ(t->counters().steps, 1);
    EXPECT_EQ(t->counters().skipped_steps, 2);
  }
  EXPECT_EQ(two.t[0]->read_state(StateBuffer::kParameters),
            two.t[1]->read_state(StateBuffer::kParameters));
}

TEST(DataParallelRefusals, RanksWithDifferentDatasetsRefuseTheirEpochTogether) {
  TwoRanks two(testing::small_config());
  const auto x = testing::binary(20 * kDim, 5);
  std::unique_ptr<Dataset> ds[2] = {two.t[0]->create_dataset(x.data(), 20),
                                    two.t[1]->create_dataset(x.data(), 19)};
  two.run([&](int r, Trainer& t) { t.train_epoch(*ds[r], 8, nullptr); });
  for (const auto& r : two.result) {
    EXPECT_EQ(r.first, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(has(r.second, "epoch 0")) << r.second;
    EXPECT_TRUE(has(r.second, "3 steps shared with other ranks were skipped")) << r.second;
  }
  EXPECT_EQ(two.t[0]->counters().steps, 0);
  EXPECT_EQ(two.t[1]->counters().epochs, 1);
}

// A hook of one rank that fails, or returns something other than sums.
struct OddHook {
  enum Kind { kFails, kFailsSilently, kBadStatus, kClaimsSkipped, kDoubles, kHalves, kStopsFive } kind;
  int calls = 0;
  int fail_at = 0;  // the call (0-based) that fails, for kFails

  static int run(void* user, float* buffer, int64_t count, int, void*, char* message,
                 size_t size) {
    auto* h = static_cast<OddHook*>(user);
    const int call = h->calls++;
    switch (h->kind) {
      case kFails:
        if (call < h->fail_at) return VAE_OK;
        std::snprintf(message, size, "link %d is down", call);
        return VAE_ERROR_IO;
      case kFailsSilently:
        return VAE_ERROR_IO;
      case kBadStatus:
        std::memset(message, 'x', size);  // not NUL-terminated: cut at its end
        return 42;
      case kClaimsSkipped:
        std::snprintf(message, size, "no route");
        return VAE_ERROR_NUMERICAL;
      case kDoubles:
        for (int64_t e = 0; e < count; ++e) buffer[e] *= 2.0f;
        return VAE_OK;
      case kHalves:
        for (int64_t e = 0; e < count; ++e) buffer[e] *= 0.5f;
        return VAE_OK;
      case kStopsFive:  // five requests to stop, from one rank
        buffer[count - kShareTailFloats + kStopSlot] = 5.0f;
        return VAE_OK;
    }
    return VAE_OK;
  }
};

TEST(DataParallelRefusals, AFailedHookChangesNothingAndSaysWhy) {
  const Config c = testing::small_config();
  const auto x = testing::binary(6 * kDim, 6);
  const std::pair<OddHook::Kind, vae_status> cases[] = {
      {OddHook::kFails, VAE_ERROR_IO},
      {OddHook::kFailsSilently, VAE_ERROR_IO},
      {OddHook::kBadStatus, VAE_ERROR_DEVICE},
      // VAE_ERROR_NUMERICAL reports skipped steps, which this one is not.
      {OddHook::kClaimsSkipped, VAE_ERROR_DEVICE},
  };
  for (const auto& [kind, status] : cases) {
    auto t = testing::make_trainer<CpuTrainerF>(c);
    OddHook hook{kind};
    t->set_allreduce(&OddHook::run, &hook);
    const State before(*t);
    float loss = -1.0f;
    const auto [got, message] = outcome([&] { t->train_step(x.data(), 6, &loss); });
    EXPECT_EQ(got, status) << kind;
    EXPECT_TRUE(has(message, "allreduce hook: ")) << message;
    EXPECT_TRUE(has(message, "changed nothing")) << message;
    if (kind == OddHook::kFails) {
      EXPECT_TRUE(has(message, "link 0 is down")) << message;
    }
    if (kind == OddHook::kFailsSilently) {
      EXPECT_TRUE(has(message, "status 4")) << message;
    }
    EXPECT_EQ(loss, -1.0f);
    EXPECT_TRUE(before.same_as(*t));
    EXPECT_EQ(t->counters().skipped_steps, 0);
  }
}

TEST(DataParallelRefusals, AHookFailingInAnEpochStopsItAfterTheStepsTaken) {
  auto t = testing::make_trainer<CpuTrainerF>(testing::small_config());
  OddHook hook{OddHook::kFails};
  hook.fail_at = 2;
  t->set_allreduce(&OddHook::run, &hook);
  const auto x = testing::binary(20 * kDim, 7);
  auto ds = t->create_dataset(x.data(), 20);
  const auto [got, message] = outcome([&] { t->train_epoch(*ds, 5, nullptr); });
  EXPECT_EQ(got, VAE_ERROR_IO);
  EXPECT_TRUE(has(message, "link 2 is down")) << message;
  EXPECT_EQ(t->counters().steps, 2);
  EXPECT_EQ(t->counters().epochs, 0);
  // Without the hook the trainer trains alone again.
  t->set_allreduce(nullptr, nullptr);
  t->train_epoch(*ds, 5, nullptr);
  EXPECT_EQ(t->counters().epochs, 1);
}

TEST(DataParallelRefusals, AHookThatDoesNotSumIsCaught) {
  const Config c = testing::small_config();
  const auto x = testing::binary(6 * kDim, 8);
  for (const auto kind : {OddHook::kDoubles, OddHook::kHalves, OddHook::kStopsFive}) {
    auto t = testing::make_trainer<CpuTrainerF>(c);
    OddHook hook{kind};
    t->set_allreduce(&OddHook::run, &hook);
    const State before(*t);
    float loss = 0;
    const auto [got, message] = outcome([&] { t->train_step(x.data(), 6, &loss); });
    EXPECT_EQ(got, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(has(message, kind == OddHook::kDoubles ? "how many ranks take part"
                                                       : "the allreduce hook's sums"))
        << message;
    EXPECT_TRUE(before.same_as(*t));
  }
}

TEST(DataParallelRefusals, AWorldSizeAboveOneNeedsAHook) {
  Config c = testing::small_config();
  c.world_size = 2;
  c.rank = 1;
  auto t = testing::make_trainer<CpuTrainerF>(c);
  const auto x = testing::binary(6 * kDim, 9);
  auto ds = t->create_dataset(x.data(), 6);
  const State before(*t);
  for (int call = 0; call < 2; ++call) {
    const auto [got, message] = outcome([&] {
      if (call == 0) {
        t->train_step(x.data(), 6, nullptr);
      } else {
        t->train_epoch(*ds, 6, nullptr);
      }
    });
    EXPECT_EQ(got, VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(has(message, "VAE_OPT_WORLD_SIZE is 2 but no allreduce hook")) << message;
  }
  EXPECT_TRUE(before.same_as(*t));
  EXPECT_EQ(t->counters().epochs, 0);
  // Evaluation stays local, with or without a hook.
  std::vector<float> elbo(6);
  t->evaluate(x.data(), 6, elbo.data(), nullptr, nullptr);
  for (const float e : elbo) EXPECT_TRUE(std::isfinite(e));
}

TEST(DataParallelRefusals, TheRankAndWorldSizeAreCheckedAndNotSaved) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_RANK, 1), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(vae_last_error(), "set VAE_OPT_WORLD_SIZE first")) << vae_last_error();
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_WORLD_SIZE, 4097), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_WORLD_SIZE, 0), VAE_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_WORLD_SIZE, 4), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_RANK, 3), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_WORLD_SIZE, 3), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(has(vae_last_error(), "lower VAE_OPT_RANK first")) << vae_last_error();
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  int64_t value = -1;
  EXPECT_EQ(vae_get_int(t, VAE_OPT_RANK, &value), VAE_OK);
  EXPECT_EQ(value, 3);
  EXPECT_EQ(vae_get_int(t, VAE_OPT_WORLD_SIZE, &value), VAE_OK);
  EXPECT_EQ(value, 4);
  EXPECT_EQ(vae_set_allreduce(nullptr, nullptr, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  const std::string path = testing::temp_path("data_parallel_not_saved");
  ASSERT_EQ(vae_save(t, path.c_str()), VAE_OK);
  const std::string bytes = testing::read_file(path);
  EXPECT_FALSE(has(bytes, "VAE_OPT_RANK"));
  EXPECT_FALSE(has(bytes, "VAE_OPT_WORLD_SIZE"));
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK);
  std::filesystem::remove(path);
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_WORLD_SIZE, &value), VAE_OK);
  EXPECT_EQ(value, 1);
  vae_destroy(loaded);
  vae_destroy(t);
  vae_config_destroy(c);
}

}  // namespace
}  // namespace vae
