// I/O-failure injection (failing_io.h): each open, read, write, fsync, close
// and rename that vae_save and vae_load make fails in turn, with EIO and
// with ENOSPC. A save that fails returns VAE_ERROR_IO naming the file and
// leaves the old checkpoint byte for byte and no temporary file; one that
// succeeds (the failure hit the best-effort sync of the directory) leaves
// the new checkpoint whole. A load that fails returns VAE_ERROR_IO and no
// trainer. Reads and writes interrupted by a signal (EINTR) are retried.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "failing_io.h"
#include "test_support.h"
#include "vae/vae.h"

namespace {

namespace fs = std::filesystem;
using vae::testing::FailingIo;
using vae::testing::read_file;

constexpr int64_t kDim = 8;
constexpr int64_t kBatch = 4;

class IoFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "model.safetensors").string();
    vae_config* c = nullptr;
    ASSERT_EQ(vae_config_create(&c), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, 2), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, kBatch), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    // A file of several reads and writes: the library reads 64 KiB at a time.
    const int32_t widths[] = {2048};
    ASSERT_EQ(vae_config_set_hidden_layers(c, widths, 1), VAE_OK);
    ASSERT_EQ(vae_create(c, &t_), VAE_OK);
    vae_config_destroy(c);
    ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK);
    old_ = read_file(path_);
    const std::vector<float> x = vae::testing::binary(kBatch * kDim, 3);
    ASSERT_EQ(vae_train_step(t_, x.data(), kBatch, nullptr), VAE_OK);  // the next save differs
  }
  void TearDown() override {
    FailingIo::stop();
    vae_destroy(t_);
  }

  // The files in the checkpoint's directory.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    return names;
  }

  // vae_save with the fail_at-th I/O call failing with `error`.
  vae_status save_failing(int64_t fail_at, int error) {
    FailingIo::watch(fail_at, error);
    const vae_status s = vae_save(t_, path_.c_str());
    FailingIo::stop();
    return s;
  }

  const vae::testing::TestDirectory scratch_{"vae_io_failures"};
  const fs::path dir_ = scratch_.path();
  std::string path_;
  std::string old_;
  vae_trainer* t_ = nullptr;
};

// How many I/O calls a clean call of `run` makes.
template <class Run>
int64_t io_calls(Run run) {
  FailingIo::watch(0, 0);
  run();
  FailingIo::stop();
  return FailingIo::count();
}

TEST_F(IoFailures, ASaveFailingAtAnyCallKeepsTheOldFileOrWritesTheNewOneWhole) {
  const std::string fresh = (dir_ / "fresh.safetensors").string();
  ASSERT_EQ(vae_save(t_, fresh.c_str()), VAE_OK);
  const std::string saved = read_file(fresh);
  fs::remove(fresh);
  ASSERT_NE(saved, old_);
  const int64_t calls = io_calls([&] { ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK); });
  ASSERT_GE(calls, 6);  // open, writes, fsync, close, rename, the directory's sync
  for (const int error : {EIO, ENOSPC}) {
    for (int64_t k = 1; k <= calls; ++k) {
      vae::testing::write_file(path_, old_);
      const vae_status s = save_failing(k, error);
      ASSERT_TRUE(FailingIo::failed()) << k;
      const std::string call = FailingIo::failed_call();
      SCOPED_TRACE("call " + std::to_string(k) + " (" + call + "), " + std::strerror(error));
      if (s == VAE_OK) {
        EXPECT_EQ(read_file(path_), saved);  // only the directory's sync failed
      } else {
        EXPECT_EQ(s, VAE_ERROR_IO);
        const std::string message = vae_last_error();
        EXPECT_NE(message.find(path_), std::string::npos) << message;
        EXPECT_NE(message.find(std::strerror(error)), std::string::npos) << message;
        EXPECT_EQ(read_file(path_), old_);
      }
      EXPECT_EQ(files(), std::vector<std::string>{"model.safetensors"});
    }
  }
  // After them all, a save goes through.
  ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK) << vae_last_error();
  EXPECT_EQ(read_file(path_), saved);
}

TEST_F(IoFailures, ALoadFailingAtAnyCallGivesAnIoErrorAndNoTrainer) {
  const int64_t calls = io_calls([&] {
    vae_trainer* t = nullptr;
    ASSERT_EQ(vae_load(path_.c_str(), VAE_BACKEND_CPU, &t), VAE_OK);
    vae_destroy(t);
  });
  ASSERT_GE(calls, 4);  // open, reads (the file is over 64 KiB), close
  for (int64_t k = 1; k <= calls; ++k) {
    vae_trainer* t = nullptr;
    FailingIo::watch(k, EIO);
    const vae_status s = vae_load(path_.c_str(), VAE_BACKEND_CPU, &t);
    FailingIo::stop();
    ASSERT_TRUE(FailingIo::failed()) << k;
    const std::string call = FailingIo::failed_call();
    if (call == "close") {
      // The bytes were all read: a failed close of a file only read loses
      // nothing.
      EXPECT_EQ(s, VAE_OK) << k;
    } else {
      EXPECT_EQ(s, VAE_ERROR_IO) << k << " (" << call << ")";
      EXPECT_NE(std::string(vae_last_error()).find(path_), std::string::npos) << vae_last_error();
    }
    EXPECT_EQ(s == VAE_OK, t != nullptr);
    vae_destroy(t);
  }
}

TEST_F(IoFailures, InterruptedReadsAndWritesAreRetried) {
  // One call at a time is interrupted. A read or write is tried again; an
  // interrupted open, fsync, close or rename may fail the save (each is
  // rare, and retrying a close is unsafe), which the first test covers.
  const int64_t calls = io_calls([&] { ASSERT_EQ(vae_save(t_, path_.c_str()), VAE_OK); });
  for (int64_t k = 1; k <= calls; ++k) {
    const vae_status s = save_failing(k, EINTR);
    const std::string call = FailingIo::failed_call();
    if (call == "read" || call == "write") {
      EXPECT_EQ(s, VAE_OK) << k << " (" << call << "): " << vae_last_error();
    }
  }
  vae_trainer* loaded = nullptr;
  FailingIo::watch(2, EINTR);  // the first read
  EXPECT_EQ(vae_load(path_.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK) << vae_last_error();
  FailingIo::stop();
  EXPECT_STREQ(FailingIo::failed_call(), "read");
  vae_destroy(loaded);
}

}  // namespace
