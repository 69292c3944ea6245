// An allreduce hook that writes past the end of its buffer (vae.h,
// vae_set_allreduce) fails its step, which changes nothing, instead of
// writing into Adam's moments; and vae_save never writes a checkpoint that
// vae_load would refuse.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "error.h"
#include "network.h"
#include "test_support.h"

namespace vae {
namespace {

using testing::CpuTrainerF;

constexpr int64_t kDim = 12;
constexpr int64_t kRows = 4;

// A hook of one rank that also writes `value` at buffer[count + past].
struct Overrun {
  int64_t past = 0;
  float value = NAN;
  static int hook(void* self, float* buffer, int64_t count, int, void*, char*, size_t) {
    const auto* o = static_cast<Overrun*>(self);
    buffer[count + o->past] = o->value;
    return VAE_OK;
  }
};

struct State {
  explicit State(const Trainer& t)
      : params(t.read_state(StateBuffer::kParameters)),
        m(t.read_state(StateBuffer::kAdamFirstMoment)),
        v(t.read_state(StateBuffer::kAdamSecondMoment)),
        steps(t.counters().steps),
        skipped(t.counters().skipped_steps) {}
  bool operator==(const State& o) const {
    return params == o.params && m == o.m && v == o.v && steps == o.steps && skipped == o.skipped;
  }
  std::vector<float> params, m, v;
  int64_t steps, skipped;
};

template <class F>
Error thrown(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return Error(VAE_OK, "");
}

class HookGuard : public ::testing::TestWithParam<int64_t> {};

TEST_P(HookGuard, AHookThatWritesPastItsBufferFailsTheStepWhichChangesNothing) {
  const testing::TestDirectory directory("hook_guard");
  auto t = testing::make_trainer<CpuTrainerF>(testing::small_config(kDim, 3, {7}, kRows));
  const auto x = testing::binary(kRows * kDim, 5);
  float loss = 0;
  t->train_step(x.data(), kRows, &loss);  // Adam's moments are not all zero
  Overrun overrun;
  overrun.past = GetParam();
  t->set_allreduce(&Overrun::hook, &overrun);
  const State before(*t);
  const Error e = thrown([&] { t->train_step(x.data(), kRows, &loss); });
  EXPECT_EQ(e.status(), VAE_ERROR_DEVICE) << e.what();
  EXPECT_NE(std::string(e.what()).find("past the end of its buffer"), std::string::npos) << e.what();
  EXPECT_TRUE(State(*t) == before);
  // The trainer is whole: it saves a checkpoint that loads.
  const std::string path = (directory.path() / "after.safetensors").string();
  t->save(path);
  EXPECT_NE(Trainer::load(path, VAE_BACKEND_CPU), nullptr);
  // And it trains on with a hook that keeps to its buffer.
  t->set_allreduce(nullptr, nullptr);
  t->train_step(x.data(), kRows, &loss);
  EXPECT_EQ(t->counters().steps, before.steps + 1);
}

INSTANTIATE_TEST_SUITE_P(Overruns, HookGuard, ::testing::Values(0, 1, kHookGuardFloats - 1));

// A state vae_load would refuse (here written behind the trainer's back, as
// memory a caller's code overran might be) is not saved: the old file stays.
TEST(SaveChecks, AStateThatLoadWouldRefuseIsNotSaved) {
  const testing::TestDirectory directory("save_checks");
  auto t = testing::make_trainer<CpuTrainerF>(testing::small_config());
  const std::string path = (directory.path() / "model.safetensors").string();
  t->save(path);
  const std::string old_bytes = testing::read_file(path);
  for (const StateBuffer buffer :
       {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment, StateBuffer::kAdamSecondMoment}) {
    for (const float bad : {NAN, INFINITY, -1.0f}) {
      if (bad == -1.0f && buffer != StateBuffer::kAdamSecondMoment) continue;
      std::vector<float> values = t->read_state(buffer);
      const std::vector<float> good = values;
      values[3] = bad;
      t->write_state(buffer, values);
      const Error e = thrown([&] { t->save(path); });
      EXPECT_EQ(e.status(), VAE_ERROR_INTERNAL) << e.what();
      EXPECT_NE(std::string(e.what()).find("vae_load would refuse"), std::string::npos) << e.what();
      EXPECT_EQ(testing::read_file(path), old_bytes);
      t->write_state(buffer, good);
    }
  }
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory.path())) {
    static_cast<void>(entry);
    ++files;
  }
  EXPECT_EQ(files, 1u);  // no temporary file left behind
}

}  // namespace
}  // namespace vae
