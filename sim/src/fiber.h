// Fibers for the simulated threads of a block: a stack of their own and a
// context switch that AddressSanitizer and ThreadSanitizer are told about
// (their fiber annotations), so that ASan checks the fibers' stacks and
// TSan sees each simulated thread as a thread of its own. On x86-64 the
// switch saves the callee-saved registers and swaps stack pointers (no
// system call, unlike swapcontext's signal mask); elsewhere it is ucontext.
#pragma once

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <cstddef>
#include <memory>

namespace cudasim {

// An mmap'd stack with an inaccessible guard page below it, and the
// ThreadSanitizer fiber that runs on it (made once: TSan clears most of a
// megabyte for each, too slow to do for every simulated thread).
class FiberStack {
 public:
  explicit FiberStack(size_t bytes);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  void* base() const { return base_; }
  size_t size() const { return size_; }
  // Clears what a fiber abandoned part way left poisoned on the stack.
  void unpoison() const;
  void* tsan_fiber() const { return tsan_fiber_; }

 private:
  [[maybe_unused]] void* tsan_fiber_ = nullptr;  // used in TSan builds
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  void* base_ = nullptr;
  size_t size_ = 0;
};

// A suspended context: on x86-64 the stack pointer its registers were
// pushed under.
#if defined(__x86_64__)
struct FiberContext {
  void* stack_pointer = nullptr;
};
#else
struct FiberContext {
  ucontext_t context;
};
#endif

// The context a fiber returns to: the thread that runs the fibers. Made
// before the fibers start (prepare()), so that what they read of it was
// written before the launch's release.
struct FiberHome {
  FiberContext context;
  void* tsan_fiber = nullptr;
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  void prepare();
};

class Fiber {
 public:
  // A fiber that will run entry() on `stack` when first resumed.
  Fiber(FiberStack& stack, void (*entry)());
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // From home: runs the fiber until it suspends or finishes.
  void resume(FiberHome& home);
  // From the fiber: back to home; returns when resumed again. `finished`:
  // the fiber never resumes (its sanitizer state is released), and
  // `release`, when not null, is TSan's synchronization object it releases
  // last, after reading what it needs of home.
  void suspend(FiberHome& home, bool finished, const void* release = nullptr);
  // From the fiber's entry function, first thing: completes the switch.
  static void started(FiberHome& home);

 private:
  FiberContext context_;
  FiberStack& stack_;
  void* fake_stack_ = nullptr;
};

// Stack bytes per simulated thread.
size_t fiber_stack_bytes();

}  // namespace cudasim
