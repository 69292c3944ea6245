// Numbers at and past the library's limits: counters stop at VAE_MAX_COUNTER
// (a call that would pass it is refused and changes nothing; a checkpoint
// past it is a format error), doubles far outside an integer option's range
// are refused naming the option and the range, and a status code outside the
// enumeration has a fixed text.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "error.h"
#include "safetensors.h"
#include "test_support.h"
#include "vae/vae.h"

extern "C" const char* vae_test_status_string_of(int code);

namespace vae {
namespace {

using testing::CpuTrainerF;

constexpr int64_t kDim = 12;
constexpr int64_t kBatch = 6;

// The status of f() (VAE_OK when it returns), and its message in *message.
template <class F>
vae_status status_of(F&& f, std::string* message = nullptr) {
  try {
    f();
    return VAE_OK;
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.status();
  }
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class Counters : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_trainer<CpuTrainerF>(testing::small_config());
    t_->train_step(x_.data(), kBatch, nullptr);
  }

  // Parameters, Adam state and counters: the whole training state.
  struct State {
    std::vector<float> params, m, v;
    int64_t steps, encoder_steps, decoder_steps, epochs, draws;
    bool operator==(const State& o) const {
      return params == o.params && m == o.m && v == o.v && steps == o.steps &&
             encoder_steps == o.encoder_steps && decoder_steps == o.decoder_steps &&
             epochs == o.epochs && draws == o.draws;
    }
  };
  State state() const {
    const vae::Counters& c = t_->counters();
    return {t_->read_state(StateBuffer::kParameters), t_->read_state(StateBuffer::kAdamFirstMoment),
            t_->read_state(StateBuffer::kAdamSecondMoment), c.steps, c.encoder_steps,
            c.decoder_steps, c.epochs, c.draws};
  }

  // f() is refused with VAE_ERROR_UNSUPPORTED naming `word`, and changes nothing.
  template <class F>
  void expect_refused(F&& f, const char* word) {
    const State before = state();
    std::string message;
    EXPECT_EQ(status_of(f, &message), VAE_ERROR_UNSUPPORTED) << message;
    EXPECT_TRUE(contains(message, word)) << message;
    EXPECT_TRUE(contains(message, "VAE_MAX_COUNTER")) << message;
    EXPECT_TRUE(state() == before);
  }

  // One counter set as a checkpoint would set it.
  void set(int64_t vae::Counters::*counter, int64_t value) {
    vae::Counters c = t_->counters();
    c.*counter = value;
    t_->set_counters(c);
  }

  std::unique_ptr<CpuTrainerF> t_;
  const std::vector<float> x_ = testing::binary(kBatch * kDim, 3);
};

TEST_F(Counters, StepsStopAtTheLimit) {
  set(&vae::Counters::steps, kMaxCounter - 1);
  t_->train_step(x_.data(), kBatch, nullptr);
  EXPECT_EQ(t_->counters().steps, kMaxCounter);
  expect_refused([&] { t_->train_step(x_.data(), kBatch, nullptr); }, "VAE_OPT_STEPS");
  EXPECT_EQ(t_->get_int(VAE_OPT_STEPS), VAE_MAX_COUNTER);
}

TEST_F(Counters, EachHalfsAdamStepCountStopsAtTheLimit) {
  set(&vae::Counters::encoder_steps, kMaxCounter);
  expect_refused([&] { t_->train_step(x_.data(), kBatch, nullptr); }, "encoder");
  t_->set_int(VAE_OPT_UPDATE, VAE_UPDATE_ENCODER);
  expect_refused([&] { t_->train_step(x_.data(), kBatch, nullptr); }, "encoder");
  // The decoder alone still has room.
  t_->set_int(VAE_OPT_UPDATE, VAE_UPDATE_DECODER);
  t_->train_step(x_.data(), kBatch, nullptr);
  set(&vae::Counters::decoder_steps, kMaxCounter);
  expect_refused([&] { t_->train_step(x_.data(), kBatch, nullptr); }, "decoder");
}

TEST_F(Counters, AnEpochNeedsRoomForAllItsStepsFirst) {
  const auto rows = testing::binary(3 * kBatch * kDim, 4);
  auto ds = t_->create_dataset(rows.data(), 3 * kBatch);
  set(&vae::Counters::steps, kMaxCounter - 2);
  expect_refused([&] { t_->train_epoch(*ds, kBatch, nullptr); }, "VAE_OPT_STEPS");
  set(&vae::Counters::steps, kMaxCounter - 3);
  t_->train_epoch(*ds, kBatch, nullptr);
  EXPECT_EQ(t_->counters().steps, kMaxCounter);
  set(&vae::Counters::steps, 0);
  set(&vae::Counters::epochs, kMaxCounter);
  expect_refused([&] { t_->train_epoch(*ds, kBatch, nullptr); }, "VAE_OPT_EPOCHS");
}

TEST_F(Counters, NoiseDrawsStopAtTheLimit) {
  const auto rows = testing::binary(2 * kBatch * kDim, 5);
  auto ds = t_->create_dataset(rows.data(), 2 * kBatch);
  std::vector<float> out(4 * kDim);
  double mean = 0;
  set(&vae::Counters::draws, kMaxCounter - 1);
  t_->sample(2, out.data());
  EXPECT_EQ(t_->counters().draws, kMaxCounter);
  expect_refused([&] { t_->sample(2, out.data()); }, "draws");
  expect_refused([&] { t_->evaluate(x_.data(), 2, out.data(), nullptr, nullptr); }, "draws");
  expect_refused([&] { t_->log_likelihood(x_.data(), 2, 3, VAE_ESTIMATOR_PRIOR, out.data()); },
                 "draws");
  expect_refused([&] { t_->evaluate_dataset(*ds, &mean, nullptr, nullptr); }, "draws");
  expect_refused([&] { t_->log_likelihood_dataset(*ds, 3, VAE_ESTIMATOR_IMPORTANCE, &mean); },
                 "draws");
  // Calls that draw no noise go on.
  t_->encode(x_.data(), 2, out.data(), nullptr);
  t_->decode(out.data(), 2, out.data() + 2 * 3);
}

// Issue 10 defect 5: a checkpoint's counters up to INT64_MAX were accepted
// and the next step overflowed.
TEST_F(Counters, CheckpointCountersPastTheLimitAreFormatErrors) {
  const std::string path = ::testing::TempDir() + "/vae_limits_counters.safetensors";
  t_->save(path);
  const SafetensorsFile saved = read_safetensors(path);
  const std::string edited = path + ".edited";
  auto load_with = [&](const std::string& key, int64_t value, std::string* message) {
    SafetensorsFile f = saved;
    f.metadata.at(key) = std::to_string(value);
    write_safetensors(edited, f);
    return status_of([&] { Trainer::load(edited, VAE_BACKEND_CPU); }, message);
  };
  for (const char* key : {"libvae.steps", "libvae.encoder_steps", "libvae.decoder_steps",
                          "libvae.epochs", "libvae.draws"}) {
    std::string message;
    for (int64_t past : {kMaxCounter + 1, std::numeric_limits<int64_t>::max()}) {
      EXPECT_EQ(load_with(key, past, &message), VAE_ERROR_FORMAT) << key << " " << past;
      EXPECT_TRUE(contains(message, key)) << message;
      EXPECT_TRUE(contains(message, std::to_string(past))) << message;
    }
    EXPECT_EQ(load_with(key, kMaxCounter, &message), VAE_OK) << message;
  }
  // At the limit a loaded trainer refuses the step instead of overflowing.
  SafetensorsFile f = saved;
  f.metadata.at("libvae.steps") = std::to_string(kMaxCounter);
  write_safetensors(edited, f);
  std::unique_ptr<Trainer> loaded = Trainer::load(edited, VAE_BACKEND_CPU);
  std::string message;
  EXPECT_EQ(status_of([&] { loaded->train_step(x_.data(), kBatch, nullptr); }, &message),
            VAE_ERROR_UNSUPPORTED);
  EXPECT_EQ(loaded->counters().steps, kMaxCounter);
  std::remove(path.c_str());
  std::remove(edited.c_str());
}

// Issue 10 defect 6: a double far outside an integer option's range was
// converted to int64 (undefined; gcc made it INT64_MIN) before the check.
TEST(IntegerOptions, DoublesOutsideTheRangeAreRefusedBeforeConversion) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, 10), VAE_OK);
  struct Case {
    int option;
    double value;
    const char* name;
    const char* shown;
  };
  const Case cases[] = {
      {VAE_OPT_INPUT_DIM, 1e30, "VAE_OPT_INPUT_DIM", "got 1e+30"},
      {VAE_OPT_INPUT_DIM, -1e30, "VAE_OPT_INPUT_DIM", "got -1e+30"},
      {VAE_OPT_SEED, 9.3e18, "VAE_OPT_SEED", "got 9.3e+18"},
      {VAE_OPT_SEED, 1e300, "VAE_OPT_SEED", "got 1e+300"},
      {VAE_OPT_THREADS, -9.3e18, "VAE_OPT_THREADS", "got -9.3e+18"},
      {VAE_OPT_LIKELIHOOD, 4e9, "VAE_OPT_LIKELIHOOD", "got 4e+09"},
  };
  for (const Case& k : cases) {
    EXPECT_EQ(vae_config_set_float(c, k.option, k.value), VAE_ERROR_INVALID_ARGUMENT) << k.name;
    const std::string message = vae_last_error();
    EXPECT_TRUE(contains(message, k.name)) << message;
    EXPECT_TRUE(contains(message, k.shown)) << message;
    EXPECT_TRUE(contains(message, "must be in [")) << message;
  }
  // The config kept its values.
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  int64_t dim = 0, seed = 0;
  ASSERT_EQ(vae_get_int(t, VAE_OPT_INPUT_DIM, &dim), VAE_OK);
  ASSERT_EQ(vae_get_int(t, VAE_OPT_SEED, &seed), VAE_OK);
  EXPECT_EQ(dim, 10);
  EXPECT_EQ(seed, 1);
  vae_destroy(t);
  vae_config_destroy(c);
}

TEST(IntegerOptions, CheckpointMetadataOutsideTheRangeIsAFormatError) {
  for (const char* value : {"1e300", "-1e300", "9.3e18", "inf"}) {
    std::map<std::string, std::string> metadata = Config().to_metadata();
    metadata.at("VAE_OPT_SEED") = value;
    std::string message;
    EXPECT_EQ(status_of([&] { Config::from_metadata(metadata); }, &message), VAE_ERROR_FORMAT);
    EXPECT_TRUE(contains(message, "VAE_OPT_SEED")) << message;
  }
  // Integer options are read as integers, so the message quotes the text.
  std::map<std::string, std::string> metadata = Config().to_metadata();
  metadata.at("VAE_OPT_SEED") = "1e300";
  std::string message;
  status_of([&] { Config::from_metadata(metadata); }, &message);
  EXPECT_TRUE(contains(message, "'1e300'")) << message;
}

// Issue 10 defect 10: the switch loaded the code as a vae_status, undefined
// for a value outside the enumeration (UBSan reports it).
TEST(StatusStrings, CodesOutsideTheEnumerationHaveAFixedText) {
  for (int code : {99, -1, 10, 16, std::numeric_limits<int>::max(), std::numeric_limits<int>::min()}) {
    EXPECT_STREQ(vae_test_status_string_of(code), "unknown status") << code;
  }
  EXPECT_STREQ(vae_test_status_string_of(VAE_ERROR_OUT_OF_MEMORY), "out of memory");
  EXPECT_STREQ(vae_test_status_string_of(VAE_OK), "ok");
}

}  // namespace
}  // namespace vae
