// vae-train opens only regular files (apps/regular_file.h): --data or the
// test set naming a FIFO or a device, or a FIFO in metrics.csv's place on
// --resume, are refused at once instead of blocking in open (or, for
// /dev/zero, reading on). And its stop signals interrupt a blocked system
// call rather than restarting it (apps/stop_signals.h), so that the first
// SIGTERM ends a run blocked in I/O.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "app_io_fixture.h"
#include "file_contents.h"
#include "metrics_csv.h"
#include "stop_signals.h"

namespace {

using namespace app_io_test;

// Runs read() (a reader given `file`), which must throw DataFileError with
// `problem` without blocking; a FIFO it blocks on is unblocked after 10 s
// by a writer that closes at once, so the test fails rather than hangs.
void expect_refused_at_once(const std::function<void()>& read, const std::string& file,
                            const std::string& problem) {
  auto done = std::async(std::launch::async, [&]() -> std::string {
    try {
      read();
      return "accepted";
    } catch (const vae_app::DataFileError& e) {
      return e.what();
    }
  });
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int writer = open(file.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) close(writer);
    ADD_FAILURE() << "blocked on " << file;
  }
  const std::string message = done.get();
  EXPECT_NE(message.find(problem), std::string::npos) << message;
  EXPECT_EQ(message.rfind(file, 0), 0u) << message;
}

TEST_F(AppIoTest, DataThatIsAFifoIsRefusedAtOnce) {
  const std::string fifo = path("train.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  expect_refused_at_once([&] { vae_app::read_file_contents(fifo, 1 << 20); }, fifo, "a FIFO");
}

TEST_F(AppIoTest, DataThatIsADeviceIsRefused) {
  expect_refused_at_once([] { vae_app::read_file_contents("/dev/zero", 1 << 20); }, "/dev/zero",
                         "a device");
}

TEST_F(AppIoTest, AMetricsCsvThatIsAFifoIsRefusedAtOnce) {
  const std::string fifo = path("metrics.csv");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  expect_refused_at_once([&] { vae_app::read_metrics_csv(fifo); }, fifo, "a FIFO");
}

TEST_F(AppIoTest, ADirectoryIsStillNamedAsOne) {
  expect_refused_at_once([&] { vae_app::read_file_contents(path(""), 1 << 20); }, path(""),
                         "is a directory");
}

// A read on an empty pipe blocks; SIGTERM, caught by StopSignals, must end
// it with EINTR instead of restarting it. (After 10 s a byte is written so
// that the test fails rather than hangs.)
TEST(StopSignals, ASignalInterruptsABlockedSystemCall) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ssize_t got = 0;
  int error = 0;
  {
    const vae_app::StopSignals signals;
    const pthread_t reader = pthread_self();
    std::promise<void> finished;
    auto sender = std::thread([&, done = finished.get_future()]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      pthread_kill(reader, SIGTERM);
      if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        const char byte = 'x';
        EXPECT_EQ(write(fds[1], &byte, 1), 1);
      }
    });
    char byte = 0;
    got = read(fds[0], &byte, 1);
    error = errno;
    finished.set_value();
    sender.join();
    EXPECT_EQ(vae_app::StopSignals::received(), SIGTERM);
  }
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(got, -1) << "the read was restarted after the signal";
  EXPECT_EQ(error, EINTR);
}

}  // namespace
