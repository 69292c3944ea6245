// I/O-failure injection, as failing_allocator.h does for allocations: this
// test program's own open, read, write, fsync, close and rename stand in
// front of the C library's (the library under test is linked into the
// program, so its calls bind to them). Calls made by the watching thread on
// files (not the standard streams) are counted, and an armed injector fails
// the N-th with a chosen errno, once or with every later one.
#pragma once

#include <cstdint>

namespace vae::testing {

class FailingIo {
 public:
  // Starts counting this thread's calls from zero; with fail_at > 0 the
  // fail_at-th fails with `error` (and every later one when persistent).
  static void watch(int64_t fail_at, int error, bool persistent = false);
  // Stops counting and failing.
  static void stop();
  // Calls counted since watch().
  static int64_t count();
  // Whether the armed failure has happened, and the call it hit.
  static bool failed();
  static const char* failed_call();
};

}  // namespace vae::testing
