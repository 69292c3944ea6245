// What vae_load reads: only a regular file (a FIFO would block it forever,
// /dev/zero would never end), its header first, checked against the file's
// size before any data is read, then exactly the data the header describes.
// The cases that would hang or exhaust memory before the fix run in a child
// process with a time limit (and outside ASan and TSan a memory limit),
// so that the test fails instead.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <string>

#include "child_call.h"
#include "test_support.h"
#include "vae/vae.h"

namespace {

// vae_load of path in a child process limited to 1 GiB of address space
// (child_call.h).
std::string load_in_child(const std::string& path) {
  return vae::testing::call_in_child(size_t{1} << 30, 20, [&path] {
    vae_trainer* t = nullptr;
    return vae_load(path.c_str(), VAE_BACKEND_CPU, &t);
  });
}

bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

class CheckpointReading : public ::testing::Test {
 protected:
  vae::testing::TestDirectory dir_{"checkpoint_reading"};
  std::string path(const char* name) const { return (dir_.path() / name).string(); }
};

TEST_F(CheckpointReading, AFifoIsRefusedWithoutWaitingForAWriter) {
  const std::string fifo = path("checkpoint.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  auto load = std::async(std::launch::async, [&] {
    vae_trainer* t = nullptr;
    const vae_status s = vae_load(fifo.c_str(), VAE_BACKEND_CPU, &t);
    return std::make_pair(s, std::string(vae_last_error()));
  });
  if (load.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock the load (a writer that closes at once: the reader sees the
    // end), so that the test fails rather than hangs.
    const int writer = open(fifo.c_str(), O_WRONLY);
    if (writer >= 0) close(writer);
    ADD_FAILURE() << "vae_load blocked on a FIFO";
  }
  const auto [status, message] = load.get();
  EXPECT_EQ(status, VAE_ERROR_IO) << message;
  EXPECT_TRUE(has(message, "not a regular file") && has(message, "FIFO")) << message;
}

TEST_F(CheckpointReading, ADeviceThatNeverEndsIsRefused) {
  const std::string said = load_in_child("/dev/zero");
  EXPECT_TRUE(has(said, "status 4:") && has(said, "not a regular file")) << said;
}

// A large sparse file whose header is not valid: refused from its header
// alone, with no memory spent on the rest.
TEST_F(CheckpointReading, AHugeFileWithABadHeaderIsRefusedWithoutReadingIt) {
  const std::string big = path("sparse.safetensors");
  const int fd = open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  const unsigned char header[] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'x', '"', ':', '1', '}', ' '};
  ASSERT_EQ(write(fd, header, sizeof header), static_cast<ssize_t>(sizeof header));
  ASSERT_EQ(ftruncate(fd, off_t{768} << 20), 0);  // 768 MiB, all holes
  close(fd);
  const std::string said = load_in_child(big);
  EXPECT_TRUE(has(said, "status 5:")) << said;
  const size_t at = said.find(" peak +");
  ASSERT_NE(at, std::string::npos) << said;
  EXPECT_LT(std::stol(said.substr(at + 7)), 64 * 1024) << said;
}

// A good checkpoint with bytes appended after its data: the header's data
// section must tile the file, so it is refused (as before), naming the bytes.
TEST_F(CheckpointReading, AGoodCheckpointStillLoadsAndOneWithTrailingBytesDoesNot) {
  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, 6), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  vae_config_destroy(c);
  const std::string good = path("good.safetensors");
  ASSERT_EQ(vae_save(t, good.c_str()), VAE_OK);
  vae_destroy(t);
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load(good.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK) << vae_last_error();
  vae_destroy(loaded);
  vae::testing::write_file(path("long.safetensors"),
                           vae::testing::read_file(good) + std::string(4, '\0'));
  loaded = nullptr;
  EXPECT_EQ(vae_load(path("long.safetensors").c_str(), VAE_BACKEND_CPU, &loaded),
            VAE_ERROR_FORMAT);
  EXPECT_EQ(loaded, nullptr);
  EXPECT_TRUE(has(vae_last_error(), "trailing bytes")) << vae_last_error();
}

}  // namespace
