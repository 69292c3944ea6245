// Checkpoints through the C API: the CRC-32 of the data section catches
// damaged bytes, loaded values obey vae_set_parameters' rules, a file whose
// metadata promises a large model is refused from its shapes, the metadata's
// numbers come back exactly, and a write that fails (the file size limit)
// leaves the old checkpoint and no temporary file behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "checkpoint_edit.h"
#include "safetensors.h"
#include "test_support.h"
#include "vae/vae.h"

namespace {

namespace fs = std::filesystem;

using vae::testing::read_file;
using vae::testing::write_file;

constexpr int64_t kDim = 8;
constexpr int64_t kBatch = 4;
using vae::testing::kChecksumKey;

// The CRC-32 of zlib and PNG (reflected polynomial 0xEDB88320), bit by bit:
// a reference independent of the library's.
uint32_t reference_crc32(const char* data, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= static_cast<unsigned char>(data[i]);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint64_t header_length(const std::string& file) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<unsigned char>(file[static_cast<size_t>(i)])} << (8 * i);
  return n;
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "model.safetensors").string();
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LATENT_DIM, 2), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_MAX_BATCH, kBatch), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    const int32_t widths[] = {6};
    ASSERT_EQ(vae_config_set_hidden_layers(config_, widths, 1), VAE_OK);
    ASSERT_EQ(vae_create(config_, &t_), VAE_OK);
    // Two steps, so that both Adam moments are non-zero.
    const std::vector<float> x = vae::testing::binary(kBatch * kDim, 3);
    ASSERT_EQ(vae_train_step(t_, x.data(), kBatch, nullptr), VAE_OK);
    ASSERT_EQ(vae_train_step(t_, x.data(), kBatch, nullptr), VAE_OK);
    ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK);
  }
  void TearDown() override {
    vae_destroy(t_);
    vae_config_destroy(config_);
  }

  // vae_load's status for the file at `path`; a trainer it returns is freed.
  static vae_status load(const std::string& path) {
    vae_trainer* t = nullptr;
    const vae_status s = vae_load(path.c_str(), VAE_BACKEND_CPU, &t);
    EXPECT_EQ(s == VAE_OK, t != nullptr);
    vae_destroy(t);
    return s;
  }

  // Rewrites the checkpoint with `edit` applied to it, its checksum
  // recomputed unless the edit removed it.
  template <class Edit>
  std::string edited(const std::string& name, Edit edit) {
    vae::SafetensorsFile file = vae::read_safetensors(path_);
    edit(file);
    const std::string path = (dir_ / name).string();
    vae::testing::write_edited_checkpoint(path, file);
    return path;
  }

  static void expect_message(const char* part) {
    EXPECT_NE(std::strstr(vae_last_error(), part), nullptr)
        << "message '" << vae_last_error() << "' does not say '" << part << "'";
  }

  const vae::testing::TestDirectory scratch_{"vae_checkpoint"};
  const fs::path dir_ = scratch_.path();
  std::string path_;
  vae_config* config_ = nullptr;
  vae_trainer* t_ = nullptr;
};

TEST_F(Checkpoint, MetadataHoldsTheCrc32OfTheDataSection) {
  const std::string bytes = read_file(path_);
  const uint64_t n = header_length(bytes);
  const size_t data = static_cast<size_t>(8 + n);
  ASSERT_LT(data, bytes.size());
  char expected[9];
  std::snprintf(expected, sizeof expected, "%08x",
                reference_crc32(bytes.data() + data, bytes.size() - data));
  const std::string header = bytes.substr(8, static_cast<size_t>(n));
  EXPECT_NE(header.find(std::string("\"") + kChecksumKey + "\":\"" + expected + "\""),
            std::string::npos)
      << header;
}

// A CRC-32 catches every error in one byte: each byte of the data section,
// changed, is refused (without the checksum some of these changes would
// load as other, still finite, weights).
TEST_F(Checkpoint, EveryDamagedDataByteIsRefused) {
  const std::string good = read_file(path_);
  const size_t data = static_cast<size_t>(8 + header_length(good));
  const std::string damaged = (dir_ / "damaged.safetensors").string();
  for (size_t i = data; i < good.size(); ++i) {
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ (1 << (i % 8)));
    write_file(damaged, bytes);
    ASSERT_EQ(load(damaged), VAE_ERROR_FORMAT) << "byte " << i;
    ASSERT_NE(std::strstr(vae_last_error(), "checksum mismatch"), nullptr) << vae_last_error();
  }
}

TEST_F(Checkpoint, ChecksumIsOptionalButMustBeWellFormed) {
  // Older versions and other safetensors writers leave it out.
  const std::string without =
      edited("without.safetensors", [](vae::SafetensorsFile& f) { f.metadata.erase(kChecksumKey); });
  EXPECT_EQ(load(without), VAE_OK) << vae_last_error();
  for (const char* bad : {"", "1234567", "123456789", "0x123456", "1234567g", " 1234567"}) {
    SCOPED_TRACE(bad);
    vae::SafetensorsFile file = vae::read_safetensors(path_);
    file.metadata[kChecksumKey] = bad;
    const std::string p = (dir_ / "malformed.safetensors").string();
    vae::write_safetensors(p, file);
    EXPECT_EQ(load(p), VAE_ERROR_FORMAT);
    expect_message(kChecksumKey);
  }
}

// vae_load holds the values to vae_set_parameters' rule, and both moments of
// Adam to theirs; the message names the tensor and the element.
TEST_F(Checkpoint, NonFiniteOrNegativeStateIsRefused) {
  struct Case {
    const char* tensor;
    float value;
    const char* problem;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Case cases[] = {
      {"encoder.0.weight", nan, "is not finite"},
      {"decoder.1.bias", inf, "is not finite"},
      {"decoder.0.weight", -inf, "is not finite"},
      {"optimizer.exp_avg.encoder.1.weight", nan, "is not finite"},
      {"optimizer.exp_avg.decoder.1.bias", inf, "is not finite"},
      {"optimizer.exp_avg_sq.encoder.0.bias", -1e-12f, "is negative"},
      {"optimizer.exp_avg_sq.decoder.0.weight", inf, "is not finite"},
      {"optimizer.exp_avg_sq.decoder.1.weight", nan, "is not finite"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.tensor);
    const std::string p = edited("bad_value.safetensors", [&](vae::SafetensorsFile& f) {
      ASSERT_EQ(f.tensors.count(c.tensor), 1u);
      std::vector<float>& data = f.tensors.at(c.tensor).data;
      ASSERT_GT(data.size(), 3u);
      data[3] = c.value;
    });
    EXPECT_EQ(load(p), VAE_ERROR_FORMAT);
    expect_message((std::string("tensor ") + c.tensor + " element 3 " + c.problem).c_str());
  }
  // A second moment of -0 is zero, which a moment may be.
  const std::string zero = edited("negative_zero.safetensors", [](vae::SafetensorsFile& f) {
    f.tensors.at("optimizer.exp_avg_sq.encoder.0.bias").data[0] = -0.0f;
  });
  EXPECT_EQ(load(zero), VAE_OK) << vae_last_error();
}

// A seed past 2^53, which a double cannot hold, comes back exactly.
TEST_F(Checkpoint, LargeSeedComesBackExactly) {
  const int64_t seed = (int64_t{1} << 60) + 1;
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_SEED, seed), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(config_, &t), VAE_OK);
  ASSERT_EQ(vae_save(t, path_.c_str()), VAE_OK);
  vae_destroy(t);
  t = nullptr;
  ASSERT_EQ(vae_load(path_.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  int64_t loaded = 0;
  EXPECT_EQ(vae_get_int(t, VAE_OPT_SEED, &loaded), VAE_OK);
  EXPECT_EQ(loaded, seed);
  vae_destroy(t);
}

TEST_F(Checkpoint, EvalRowsIsKeptAndMayBeAbsent) {
  ASSERT_EQ(vae_set_int(t_, VAE_OPT_EVAL_ROWS, 5000), VAE_OK);
  ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_load(path_.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  int64_t rows = 0;
  EXPECT_EQ(vae_get_int(t, VAE_OPT_EVAL_ROWS, &rows), VAE_OK);
  EXPECT_EQ(rows, 5000);
  vae_destroy(t);
  // Files written before the option existed lack it: the default, 0.
  const std::string older = edited("older.safetensors", [](vae::SafetensorsFile& f) {
    ASSERT_EQ(f.metadata.erase("VAE_OPT_EVAL_ROWS"), 1u);
  });
  t = nullptr;
  ASSERT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  EXPECT_EQ(vae_get_int(t, VAE_OPT_EVAL_ROWS, &rows), VAE_OK);
  EXPECT_EQ(rows, 0);
  vae_destroy(t);
  const std::string bad = edited("bad_eval_rows.safetensors", [](vae::SafetensorsFile& f) {
    f.metadata["VAE_OPT_EVAL_ROWS"] = "-1";
  });
  EXPECT_EQ(load(bad), VAE_ERROR_FORMAT);
  expect_message("VAE_OPT_EVAL_ROWS");
}

TEST_F(Checkpoint, ScheduleAndClippingAreKeptAndMayBeAbsent) {
  const int options[] = {VAE_OPT_LR_SCHEDULE, VAE_OPT_WARMUP_STEPS, VAE_OPT_DECAY_STEPS,
                         VAE_OPT_FINAL_LEARNING_RATE, VAE_OPT_CLIP_NORM};
  const double values[] = {VAE_SCHEDULE_COSINE, 7, 123456789012, 2.5e-5, 0.75};
  ASSERT_EQ(vae_set_int(t_, VAE_OPT_DECAY_STEPS, 1), VAE_OK);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(vae_set_float(t_, options[i], values[i]), VAE_OK);
  ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_load(path_.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  for (int i = 0; i < 5; ++i) {
    double value = -1;
    EXPECT_EQ(vae_get_float(t, options[i], &value), VAE_OK);
    EXPECT_EQ(value, values[i]) << options[i];
  }
  vae_destroy(t);
  // Files of 0.1 lack them all: a constant rate and no clipping, as they trained.
  const std::string older = edited("older.safetensors", [](vae::SafetensorsFile& f) {
    for (const char* name : {"VAE_OPT_LR_SCHEDULE", "VAE_OPT_WARMUP_STEPS", "VAE_OPT_DECAY_STEPS",
                             "VAE_OPT_FINAL_LEARNING_RATE", "VAE_OPT_CLIP_NORM"}) {
      ASSERT_EQ(f.metadata.erase(name), 1u) << name;
    }
  });
  t = nullptr;
  ASSERT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  for (int i = 0; i < 5; ++i) {
    double value = -1;
    EXPECT_EQ(vae_get_float(t, options[i], &value), VAE_OK);
    EXPECT_EQ(value, 0.0) << options[i];
  }
  vae_destroy(t);
  // A decaying schedule without decay steps is refused as the file's error.
  const std::string bad = edited("bad_schedule.safetensors", [](vae::SafetensorsFile& f) {
    f.metadata["VAE_OPT_DECAY_STEPS"] = "0";
  });
  EXPECT_EQ(load(bad), VAE_ERROR_FORMAT);
  expect_message("VAE_OPT_DECAY_STEPS");
}

// A learned prior's option and tensors are saved, loaded and resumed
// exactly; files without the option (0.1, and 0.2 before it) load with the
// standard normal; a file whose option promises a prior its tensors lack,
// or an option out of range, is refused.
TEST_F(Checkpoint, MixturePriorIsKeptResumesExactlyAndMayBeAbsent) {
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_PRIOR_COMPONENTS, 3), VAE_OK);
  vae_trainer* a = nullptr;
  ASSERT_EQ(vae_create(config_, &a), VAE_OK);
  const std::vector<float> x = vae::testing::binary(kBatch * kDim, 5);
  for (int step = 0; step < 3; ++step) ASSERT_EQ(vae_train_step(a, x.data(), kBatch, nullptr), VAE_OK);
  const std::string prior_path = (dir_ / "prior.safetensors").string();
  ASSERT_EQ(vae_save(a, prior_path.c_str()), VAE_OK);
  const vae::SafetensorsFile file = vae::read_safetensors(prior_path);
  EXPECT_EQ(file.metadata.at("VAE_OPT_PRIOR_COMPONENTS"), "3");
  for (const char* name : {"prior.means", "prior.log_variances", "prior.logits",
                           "optimizer.exp_avg.prior.means", "optimizer.exp_avg_sq.prior.logits"}) {
    EXPECT_EQ(file.tensors.count(name), 1u) << name;
  }
  vae_trainer* b = nullptr;
  ASSERT_EQ(vae_load(prior_path.c_str(), VAE_BACKEND_CPU, &b), VAE_OK) << vae_last_error();
  int64_t k = 0, count = 0;
  EXPECT_EQ(vae_get_int(b, VAE_OPT_PRIOR_COMPONENTS, &k), VAE_OK);
  EXPECT_EQ(k, 3);
  ASSERT_EQ(vae_parameter_count(a, &count), VAE_OK);
  // Both go on alike, bit for bit: parameters, moments and counters came back.
  for (int step = 0; step < 2; ++step) {
    float la = 0, lb = 0;
    ASSERT_EQ(vae_train_step(a, x.data(), kBatch, &la), VAE_OK);
    ASSERT_EQ(vae_train_step(b, x.data(), kBatch, &lb), VAE_OK);
    EXPECT_EQ(la, lb) << step;
  }
  std::vector<float> pa(static_cast<size_t>(count)), pb(pa.size());
  ASSERT_EQ(vae_get_parameters(a, pa.data(), count), VAE_OK);
  ASSERT_EQ(vae_get_parameters(b, pb.data(), count), VAE_OK);
  EXPECT_EQ(pa, pb);
  std::vector<float> sa(static_cast<size_t>(4 * kDim)), sb(sa.size());
  ASSERT_EQ(vae_sample(a, 4, sa.data()), VAE_OK);
  ASSERT_EQ(vae_sample(b, 4, sb.data()), VAE_OK);
  EXPECT_EQ(sa, sb);
  vae_destroy(a);
  vae_destroy(b);

  // The fixture's file (no prior) without the option: the standard normal.
  const std::string older = edited("older.safetensors", [](vae::SafetensorsFile& f) {
    ASSERT_EQ(f.metadata.erase("VAE_OPT_PRIOR_COMPONENTS"), 1u);
  });
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &t), VAE_OK) << vae_last_error();
  EXPECT_EQ(vae_get_int(t, VAE_OPT_PRIOR_COMPONENTS, &k), VAE_OK);
  EXPECT_EQ(k, 0);
  vae_destroy(t);
  const std::string missing = edited("missing_prior.safetensors", [](vae::SafetensorsFile& f) {
    f.metadata["VAE_OPT_PRIOR_COMPONENTS"] = "2";
  });
  EXPECT_EQ(load(missing), VAE_ERROR_FORMAT);
  expect_message("the model it describes needs 33");
  const std::string bad = edited("bad_prior.safetensors", [](vae::SafetensorsFile& f) {
    f.metadata["VAE_OPT_PRIOR_COMPONENTS"] = "1025";
  });
  EXPECT_EQ(load(bad), VAE_ERROR_FORMAT);
  expect_message("VAE_OPT_PRIOR_COMPONENTS");
}

TEST_F(Checkpoint, MetadataNumbersAreReadStrictly) {
  for (const char* bad : {"", " 8", "8 ", "+8", "8.5", "1e300", "0x8", "eight"}) {
    SCOPED_TRACE(bad);
    const std::string p = edited("bad_number.safetensors",
                                 [&](vae::SafetensorsFile& f) { f.metadata["VAE_OPT_INPUT_DIM"] = bad; });
    EXPECT_EQ(load(p), VAE_ERROR_FORMAT);
    expect_message("VAE_OPT_INPUT_DIM");
  }
  for (const char* bad : {"6,", ",6", "6,,6", "6;6", "0"}) {
    SCOPED_TRACE(bad);
    const std::string p = edited("bad_layers.safetensors",
                                 [&](vae::SafetensorsFile& f) { f.metadata["hidden_layers"] = bad; });
    EXPECT_EQ(load(p), VAE_ERROR_FORMAT);
    expect_message("hidden_layers");
  }
}

// RLIMIT_FSIZE makes the write fail part way (EFBIG; SIGXFSZ ignored): the
// save reports an I/O error, the old checkpoint is intact and the temporary
// file is gone.
TEST_F(Checkpoint, FailedWriteLeavesTheOldFileAndNoTemporary) {
  vae_trainer* big = nullptr;
  const int32_t widths[] = {256};
  ASSERT_EQ(vae_config_set_hidden_layers(config_, widths, 1), VAE_OK);
  ASSERT_EQ(vae_create(config_, &big), VAE_OK);
  const std::string old = read_file(path_);
  const rlim_t limit = 16384;
  ASSERT_GT(old.size(), 0u);

  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_TRUE(saved.rlim_max == RLIM_INFINITY || saved.rlim_max > limit);
  const auto previous_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = limit;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const vae_status s = vae_save(big, path_.c_str());
  const std::string message = vae_last_error();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ::signal(SIGXFSZ, previous_handler);

  EXPECT_EQ(s, VAE_ERROR_IO) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_TRUE(read_file(path_) == old);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir_)) entries.push_back(e.path().filename());
  EXPECT_EQ(entries, std::vector<std::string>{"model.safetensors"});
  // And with the limit lifted the same save goes through.
  EXPECT_EQ(vae_save(big, path_.c_str()), VAE_OK) << vae_last_error();
  EXPECT_EQ(load(path_), VAE_OK);
  vae_destroy(big);
}

}  // namespace
