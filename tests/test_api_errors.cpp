// The C API's error model: every function given each kind of bad argument
// returns the documented status with a message naming the argument, and the
// trainer is unchanged afterwards.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"
#include "vae/vae.h"

namespace {

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LATENT_DIM, 3), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_MAX_BATCH, kBatch), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    const int32_t widths[] = {9};
    ASSERT_EQ(vae_config_set_hidden_layers(config_, widths, 1), VAE_OK);
    ASSERT_EQ(vae_create(config_, &t_), VAE_OK);
    ASSERT_EQ(vae_parameter_count(t_, &count_), VAE_OK);
    x_ = vae::testing::binary(kBatch * kDim, 1);
    ASSERT_EQ(vae_train_step(t_, x_.data(), kBatch, nullptr), VAE_OK);
    before_ = parameters();
  }
  void TearDown() override {
    // Every refused call left the trainer as it was.
    EXPECT_EQ(parameters(), before_);
    vae_destroy(t_);
    vae_config_destroy(config_);
  }

  std::vector<float> parameters() {
    std::vector<float> p(static_cast<size_t>(count_));
    EXPECT_EQ(vae_get_parameters(t_, p.data(), count_), VAE_OK);
    return p;
  }

  // The status, and that the message names `word`.
  static void expect(vae_status got, vae_status want, const char* word) {
    EXPECT_EQ(got, want) << vae_last_error();
    EXPECT_NE(std::strstr(vae_last_error(), word), nullptr)
        << "message '" << vae_last_error() << "' does not name '" << word << "'";
  }

  static constexpr int64_t kDim = 8;
  static constexpr int64_t kBatch = 4;
  vae_config* config_ = nullptr;
  vae_trainer* t_ = nullptr;
  int64_t count_ = 0;
  std::vector<float> x_;
  std::vector<float> before_;
};

constexpr vae_status kBad = VAE_ERROR_INVALID_ARGUMENT;

TEST_F(Api, VersionAndStatusStrings) {
  EXPECT_EQ(vae_version(), static_cast<uint32_t>(VAE_VERSION));
  for (int s = VAE_OK; s <= VAE_ERROR_INTERRUPTED; ++s) {
    EXPECT_GT(std::strlen(vae_status_string(static_cast<vae_status>(s))), 0u);
  }
}

TEST_F(Api, ConfigRefusesBadOptionsAndValues) {
  expect(vae_config_create(nullptr), kBad, "out");
  expect(vae_config_set_int(nullptr, VAE_OPT_SEED, 1), kBad, "c");
  expect(vae_config_set_int(config_, 999, 1), kBad, "unknown option");
  expect(vae_config_set_int(config_, VAE_OPT_EPOCHS, 1), kBad, "read-only");
  expect(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, 0), kBad, "VAE_OPT_INPUT_DIM");
  expect(vae_config_set_int(config_, VAE_OPT_LIKELIHOOD, 7), kBad, "VAE_OPT_LIKELIHOOD");
  expect(vae_config_set_int(config_, VAE_OPT_SAMPLES, 0), kBad, "VAE_OPT_SAMPLES");
  expect(vae_config_set_float(config_, VAE_OPT_LEARNING_RATE, 0.0), kBad, "VAE_OPT_LEARNING_RATE");
  expect(vae_config_set_float(config_, VAE_OPT_LEARNING_RATE, NAN), kBad, "VAE_OPT_LEARNING_RATE");
  expect(vae_config_set_float(config_, VAE_OPT_ADAM_BETA1, 1.0), kBad, "VAE_OPT_ADAM_BETA1");
  expect(vae_config_set_float(config_, VAE_OPT_KL_WEIGHT, -1.0), kBad, "VAE_OPT_KL_WEIGHT");
  expect(vae_config_set_float(config_, VAE_OPT_LATENT_DIM, 2.5), kBad, "integer");
  const int32_t widths[] = {4, 0};
  expect(vae_config_set_hidden_layers(config_, widths, 2), kBad, "widths[1]");
  expect(vae_config_set_hidden_layers(config_, widths, 9), kBad, "count");
  expect(vae_config_set_hidden_layers(config_, nullptr, 1), kBad, "widths");
  vae_trainer* t = nullptr;
  expect(vae_create(nullptr, &t), kBad, "c");
  expect(vae_create(config_, nullptr), kBad, "out");
  vae_config* bernoulli_learned = nullptr;
  ASSERT_EQ(vae_config_create(&bernoulli_learned), VAE_OK);
  ASSERT_EQ(vae_config_set_int(bernoulli_learned, VAE_OPT_VARIANCE, VAE_VARIANCE_LEARNED_SHARED), VAE_OK);
  expect(vae_create(bernoulli_learned, &t), kBad, "VAE_OPT_VARIANCE");
  EXPECT_EQ(t, nullptr);
  vae_config_destroy(bernoulli_learned);
  vae_config_destroy(nullptr);
  vae_destroy(nullptr);
  vae_dataset_destroy(nullptr);
}

TEST_F(Api, LiveOptionsRefuseStructureAndBadValues) {
  expect(vae_set_int(t_, VAE_OPT_LATENT_DIM, 5), kBad, "VAE_OPT_LATENT_DIM");
  expect(vae_set_int(t_, VAE_OPT_MAX_BATCH, 5), kBad, "VAE_OPT_MAX_BATCH");
  expect(vae_set_int(t_, VAE_OPT_UPDATE, 3), kBad, "VAE_OPT_UPDATE");
  expect(vae_set_int(t_, VAE_OPT_STEPS, 3), kBad, "read-only");
  expect(vae_set_float(t_, VAE_OPT_LEARNING_RATE, -1), kBad, "VAE_OPT_LEARNING_RATE");
  expect(vae_set_float(nullptr, VAE_OPT_LEARNING_RATE, 1), kBad, "t");
  int64_t v = 0;
  expect(vae_get_int(t_, VAE_OPT_STEPS, nullptr), kBad, "value");
  ASSERT_EQ(vae_get_int(t_, VAE_OPT_STEPS, &v), VAE_OK);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(vae_set_float(t_, VAE_OPT_KL_WEIGHT, 0.5), VAE_OK);
  double beta = 0;
  ASSERT_EQ(vae_get_float(t_, VAE_OPT_KL_WEIGHT, &beta), VAE_OK);
  EXPECT_EQ(beta, 0.5);
}

TEST_F(Api, StepRefusesBadRowsAndPointers) {
  float loss = 0;
  expect(vae_train_step(nullptr, x_.data(), kBatch, &loss), kBad, "t");
  expect(vae_train_step(t_, nullptr, kBatch, &loss), kBad, "x");
  expect(vae_train_step(t_, x_.data(), 0, &loss), kBad, "n");
  expect(vae_train_step(t_, x_.data(), -3, &loss), kBad, "n");
  expect(vae_train_step(t_, x_.data(), kBatch + 1, &loss), kBad, "[1, 4]");
  auto bad = x_;
  bad[3] = NAN;
  expect(vae_train_step(t_, bad.data(), kBatch, &loss), kBad, "row 0, column 3");
}

TEST_F(Api, InferenceCallsRefuseBadArguments) {
  std::vector<float> out(64 * kDim);
  expect(vae_evaluate(t_, nullptr, 2, out.data(), nullptr, nullptr), kBad, "x");
  expect(vae_evaluate(t_, x_.data(), 0, out.data(), nullptr, nullptr), kBad, "n");
  expect(vae_log_likelihood(t_, x_.data(), 2, 0, VAE_ESTIMATOR_IMPORTANCE, out.data()), kBad, "k");
  expect(vae_log_likelihood(t_, x_.data(), 2, 5, 7, out.data()), kBad, "estimator");
  expect(vae_log_likelihood(t_, x_.data(), 2, 5, VAE_ESTIMATOR_PRIOR, nullptr), kBad, "log_px");
  expect(vae_encode(t_, x_.data(), -1, out.data(), out.data()), kBad, "n");
  expect(vae_encode(nullptr, x_.data(), 1, out.data(), out.data()), kBad, "t");
  expect(vae_decode(t_, nullptr, 2, out.data()), kBad, "z");
  expect(vae_decode(t_, x_.data(), 2, nullptr), kBad, "mean");
  expect(vae_sample(t_, 0, out.data()), kBad, "n");
  expect(vae_sample(t_, 3, nullptr), kBad, "mean");
  // Calls other than the step take any number of rows, in chunks.
  std::vector<float> many = vae::testing::binary(11 * kDim, 3);
  EXPECT_EQ(vae_evaluate(t_, many.data(), 11, out.data(), nullptr, nullptr), VAE_OK);
  EXPECT_EQ(vae_sample(t_, 9, out.data()), VAE_OK);
}

TEST_F(Api, ParameterCallsRefuseWrongCounts) {
  std::vector<float> p(static_cast<size_t>(count_) + 1);
  expect(vae_parameter_count(t_, nullptr), kBad, "count");
  expect(vae_get_parameters(t_, p.data(), count_ - 1), kBad, "count");
  expect(vae_get_parameters(t_, nullptr, count_), kBad, "out");
  expect(vae_set_parameters(t_, p.data(), count_ + 1), kBad, "count");
  expect(vae_set_parameters(t_, nullptr, count_), kBad, "in");
  std::vector<float> nan_params = before_;
  nan_params[2] = NAN;
  expect(vae_set_parameters(t_, nan_params.data(), count_), kBad, "not finite");
}

TEST_F(Api, DatasetCallsRefuseBadArguments) {
  vae_dataset* ds = nullptr;
  std::vector<uint8_t> bytes(6 * kDim, 17);
  expect(vae_dataset_create(t_, nullptr, 3, &ds), kBad, "x");
  expect(vae_dataset_create(t_, x_.data(), 0, &ds), kBad, "n");
  expect(vae_dataset_create(t_, x_.data(), 2, nullptr), kBad, "out");
  expect(vae_dataset_create_u8(t_, bytes.data(), 6, 3, &ds), kBad, "transform");
  ASSERT_EQ(vae_dataset_create_u8(t_, bytes.data(), 6, VAE_BYTES_BINARIZE, &ds), VAE_OK);
  int64_t rows = 0;
  ASSERT_EQ(vae_dataset_size(ds, &rows), VAE_OK);
  EXPECT_EQ(rows, 6);
  float loss = 0;
  expect(vae_train_epoch(t_, ds, 0, &loss), kBad, "batch");
  expect(vae_train_epoch(t_, ds, kBatch + 1, &loss), kBad, "batch");
  expect(vae_train_epoch(t_, nullptr, 2, &loss), kBad, "ds");
  expect(vae_set_progress(nullptr, nullptr, nullptr), kBad, "t");
  EXPECT_EQ(vae_set_progress(t_, nullptr, nullptr), VAE_OK);
  double mean = 0;
  expect(vae_log_likelihood_dataset(t_, ds, 0, VAE_ESTIMATOR_IMPORTANCE, &mean), kBad, "k");
  expect(vae_log_likelihood_dataset(t_, ds, 3, VAE_ESTIMATOR_IMPORTANCE, nullptr), kBad, "mean");
  // A dataset of another trainer is refused.
  vae_trainer* other = nullptr;
  ASSERT_EQ(vae_create(config_, &other), VAE_OK);
  expect(vae_train_epoch(other, ds, 2, &loss), kBad, "another trainer");
  vae_destroy(other);
  vae_dataset_destroy(ds);
}

TEST_F(Api, LoadAndSaveReportIoAndFormatErrors) {
  vae_trainer* t = nullptr;
  expect(vae_load("/nonexistent/dir/model.safetensors", VAE_BACKEND_CPU, &t), VAE_ERROR_IO,
         "/nonexistent/dir/model.safetensors");
  expect(vae_save(t_, "/nonexistent/dir/model.safetensors"), VAE_ERROR_IO, "/nonexistent/dir");
  expect(vae_save(t_, nullptr), kBad, "path");
  const std::string path = vae::testing::temp_path("api_garbage.safetensors");
  {
    std::ofstream f(path, std::ios::binary);
    f << "this is not a checkpoint at all, but it is long enough";
  }
  expect(vae_load(path.c_str(), VAE_BACKEND_CPU, &t), VAE_ERROR_FORMAT, "");
  expect(vae_load(path.c_str(), 9, &t), kBad, "backend");
  EXPECT_EQ(t, nullptr);
  std::remove(path.c_str());
}

// A checkpoint truncated at every byte offset, or with random bytes of its
// header flipped, is refused with VAE_ERROR_FORMAT and never crashes.
TEST_F(Api, DamagedCheckpointsAreRefused) {
  const std::string path = vae::testing::temp_path("api_damaged.safetensors");
  ASSERT_EQ(vae_save(t_, path.c_str()), VAE_OK);
  std::string good;
  {
    std::ifstream f(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(f), {});
  }
  ASSERT_GT(good.size(), 100u);
  const std::string damaged = path + ".damaged";
  auto load = [&](const std::string& bytes) {
    {
      std::ofstream f(damaged, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    vae_trainer* t = nullptr;
    const vae_status s = vae_load(damaged.c_str(), VAE_BACKEND_CPU, &t);
    vae_destroy(t);
    return s;
  };
  for (size_t cut = 0; cut < good.size(); ++cut) {
    ASSERT_EQ(load(good.substr(0, cut)), VAE_ERROR_FORMAT) << "truncated at " << cut;
  }
  uint64_t header = 0;
  std::memcpy(&header, good.data(), 8);
  std::mt19937 rng(77);
  std::uniform_int_distribution<size_t> where(0, static_cast<size_t>(8 + header - 1));
  std::uniform_int_distribution<int> byte(0, 255);
  int refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = good;
    for (int flips = 0; flips < 1 + trial % 3; ++flips) {
      bytes[where(rng)] = static_cast<char>(byte(rng));
    }
    const vae_status s = load(bytes);
    // A flip inside a number that stays a valid configuration (the seed, say)
    // still loads; anything else is a format error.
    ASSERT_TRUE(s == VAE_ERROR_FORMAT || s == VAE_OK) << vae_last_error();
    refused += s == VAE_ERROR_FORMAT;
  }
  EXPECT_GT(refused, 200);
  std::remove(path.c_str());
  std::remove(damaged.c_str());
}

}  // namespace

namespace {

// vae_get_hidden_layers gives back the widths a trainer was made or loaded
// with, and refuses a buffer too small for them (still giving the count).
TEST(HiddenLayers, AreReadBackFromTheTrainerAndACheckpoint) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, 6), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  const int32_t widths[] = {11, 7, 5};
  ASSERT_EQ(vae_config_set_hidden_layers(c, widths, 3), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  vae_config_destroy(c);
  const vae::testing::TestDirectory dir("hidden_layers");
  const std::string path = (dir.path() / "model.safetensors").string();
  ASSERT_EQ(vae_save(t, path.c_str()), VAE_OK);
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK);
  for (vae_trainer* which : {t, loaded}) {
    int32_t got[VAE_MAX_HIDDEN_LAYERS] = {};
    int32_t count = -1;
    ASSERT_EQ(vae_get_hidden_layers(which, got, VAE_MAX_HIDDEN_LAYERS, &count), VAE_OK)
        << vae_last_error();
    ASSERT_EQ(count, 3);
    EXPECT_EQ(std::vector<int32_t>(got, got + 3), std::vector<int32_t>(widths, widths + 3));
    count = -1;
    EXPECT_EQ(vae_get_hidden_layers(which, got, 2, &count), VAE_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::strstr(vae_last_error(), "capacity"), nullptr) << vae_last_error();
    EXPECT_EQ(count, 3);
    EXPECT_EQ(vae_get_hidden_layers(which, got, 3, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  }
  EXPECT_EQ(vae_get_hidden_layers(nullptr, nullptr, 0, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  vae_destroy(loaded);
  vae_destroy(t);
}

}  // namespace
