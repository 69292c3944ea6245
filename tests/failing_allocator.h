// A replacement of the global operator new and delete (every form: plain,
// array, nothrow, aligned, sized) for allocation-failure injection, as SQLite
// tests do: inside a watched region every allocation is counted, and an
// armed allocator fails the N-th one (the throwing forms throw
// std::bad_alloc, the nothrow forms return null), once or, persistently, with
// every later one until disarmed. It also counts the blocks alive, so a test
// can see leaks without a sanitizer. The blocks come from malloc, so
// AddressSanitizer still tracks them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vae::testing {

class FailingAllocator {
 public:
  // Starts counting the allocations from zero; with fail_at > 0 the
  // fail_at-th allocation of the watched regions fails, and with
  // `persistent` every one after it too.
  static void reset(int64_t fail_at, bool persistent = false);
  // No further allocation fails; the counts go on.
  static void disarm();
  // Allocations made between begin_watch() and end_watch() are counted.
  static void begin_watch();
  static void end_watch();

  // Allocations counted since reset().
  static int64_t count();
  // The largest of them, in bytes.
  static std::size_t largest();
  // Whether the armed failure has happened.
  static bool failed();
  // Blocks from operator new not yet given back, watched or not.
  static int64_t live_blocks();
};

// Watches the allocations of one scope.
class AllocationWatch {
 public:
  AllocationWatch() { FailingAllocator::begin_watch(); }
  ~AllocationWatch() { FailingAllocator::end_watch(); }
  AllocationWatch(const AllocationWatch&) = delete;
  AllocationWatch& operator=(const AllocationWatch&) = delete;
};

}  // namespace vae::testing
