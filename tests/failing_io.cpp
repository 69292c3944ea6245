#include "failing_io.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace vae::testing {
namespace {

// The watching thread's state; other threads' calls pass untouched.
thread_local bool t_watching = false;
thread_local int64_t t_count = 0;
thread_local int64_t t_fail_at = 0;
thread_local int t_error = 0;
thread_local bool t_persistent = false;
thread_local const char* t_failed_call = nullptr;

// The C library's function behind ours (looked up once; a missing one is
// a broken test program, so it stops at once).
template <class Fn>
Fn next(const char* name) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    std::fprintf(stderr, "failing_io: no %s after this program's\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// True when this call is to fail (errno is then set).
bool inject(const char* call) {
  if (!t_watching) return false;
  ++t_count;
  const bool fails = t_fail_at > 0 && (t_count == t_fail_at || (t_persistent && t_count > t_fail_at));
  if (!fails) return false;
  if (t_failed_call == nullptr) t_failed_call = call;
  errno = t_error;
  return true;
}

// The standard streams carry the test framework's output, not the library's.
bool on_a_file(int fd) { return fd > STDERR_FILENO; }

}  // namespace

void FailingIo::watch(int64_t fail_at, int error, bool persistent) {
  t_count = 0;
  t_fail_at = fail_at;
  t_error = error;
  t_persistent = persistent;
  t_failed_call = nullptr;
  t_watching = true;
}

void FailingIo::stop() { t_watching = false; }
int64_t FailingIo::count() { return t_count; }
bool FailingIo::failed() { return t_failed_call != nullptr; }
const char* FailingIo::failed_call() { return t_failed_call; }

}  // namespace vae::testing

using vae::testing::inject;
using vae::testing::next;
using vae::testing::on_a_file;

extern "C" {

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list arguments;
    va_start(arguments, flags);
    mode = static_cast<mode_t>(va_arg(arguments, int));
    va_end(arguments);
  }
  static const auto real = next<int (*)(const char*, int, ...)>("open");
  if (inject("open")) return -1;
  return real(path, flags, mode);
}

ssize_t read(int fd, void* buffer, size_t size) {
  static const auto real = next<ssize_t (*)(int, void*, size_t)>("read");
  if (on_a_file(fd) && inject("read")) return -1;
  return real(fd, buffer, size);
}

ssize_t write(int fd, const void* buffer, size_t size) {
  static const auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  if (on_a_file(fd) && inject("write")) return -1;
  return real(fd, buffer, size);
}

int fsync(int fd) {
  static const auto real = next<int (*)(int)>("fsync");
  if (on_a_file(fd) && inject("fsync")) return -1;
  return real(fd);
}

// A failed close still closes the descriptor (as Linux does), so a failure
// here leaks nothing.
int close(int fd) {
  static const auto real = next<int (*)(int)>("close");
  if (on_a_file(fd) && inject("close")) {
    const int error = errno;
    real(fd);
    errno = error;
    return -1;
  }
  return real(fd);
}

int rename(const char* from, const char* to) noexcept {  // noexcept: as <cstdio> declares it
  static const auto real = next<int (*)(const char*, const char*)>("rename");
  if (inject("rename")) return -1;
  return real(from, to);
}

}  // extern "C"
