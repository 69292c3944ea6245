#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDASIM_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define CUDASIM_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CUDASIM_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CUDASIM_TSAN 1
#endif

#if defined(CUDASIM_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(CUDASIM_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__)
// cudasim_switch(from, to): pushes the callee-saved registers on the
// current stack, stores the stack pointer in *from, loads *to and pops what
// was pushed there. A new fiber's stack is laid out as if it had been
// suspended just before entering its function. The floating-point control
// words are not switched: the fibers of a worker share them, and nothing
// the simulator runs changes them.
extern "C" void cudasim_switch(void** from, void* const* to);
asm(R"(
  .text
  .p2align 4
  .type cudasim_switch, @function
cudasim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq (%rsi), %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cudasim_switch, .-cudasim_switch
)");
#endif

namespace cudasim {

namespace {

void switch_context(FiberContext& from, FiberContext& to) {
#if defined(__x86_64__)
  // to.stack_pointer is read inside the assembly, unseen by TSan, like the
  // write of from.stack_pointer.
  cudasim_switch(&from.stack_pointer, &to.stack_pointer);
#else
  swapcontext(&from.context, &to.context);
#endif
}

}  // namespace

size_t fiber_stack_bytes() {
#if defined(CUDASIM_ASAN) || defined(CUDASIM_TSAN)
  return size_t{256} << 10;
#else
  return size_t{64} << 10;
#endif
}

FiberStack::FiberStack(size_t bytes) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_ = (bytes + page - 1) / page * page;
  mapping_bytes_ = size_ + page;
  mapping_ = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0);
  if (mapping_ == MAP_FAILED) throw std::bad_alloc();
  // The guard page: a fiber that overflows its stack faults at once.
  mprotect(mapping_, page, PROT_NONE);
  base_ = static_cast<char*>(mapping_) + page;
#if defined(CUDASIM_TSAN)
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

FiberStack::~FiberStack() {
#if defined(CUDASIM_TSAN)
  __tsan_destroy_fiber(tsan_fiber_);
#endif
  munmap(mapping_, mapping_bytes_);
}

void FiberStack::unpoison() const {
#if defined(CUDASIM_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(base_, size_);
#endif
}

Fiber::Fiber(FiberStack& stack, void (*entry)()) : stack_(stack) {
#if defined(__x86_64__)
  // From the top: a null return address for entry (it never returns), then
  // entry as the address cudasim_switch returns to, and six registers.
  // entry starts with the stack 16-byte aligned plus the return address, as
  // after a call.
  auto* top = reinterpret_cast<uint64_t*>(static_cast<char*>(stack.base()) + stack.size());
  uint64_t* sp = top - 8;
  for (int i = 0; i < 6; ++i) sp[i] = 0;
  sp[6] = reinterpret_cast<uint64_t>(entry);
  sp[7] = 0;
  context_.stack_pointer = sp;
#else
  getcontext(&context_.context);
  context_.context.uc_stack.ss_sp = stack.base();
  context_.context.uc_stack.ss_size = stack.size();
  context_.context.uc_link = nullptr;
  makecontext(&context_.context, entry, 0);
#endif
}

Fiber::~Fiber() = default;

void FiberHome::prepare() {
#if defined(CUDASIM_TSAN)
  tsan_fiber = __tsan_get_current_fiber();
#endif
}

// For TSan the switches synchronize nothing: the simulated threads are
// ordered only by the launch and the barriers, which say so themselves
// (block_runner.cpp). So each side reads what it needs of the other before
// it tells TSan it switched; the stack pointers are written by
// cudasim_switch, which TSan does not see.
void Fiber::resume(FiberHome& home) {
#if defined(CUDASIM_TSAN)
  __tsan_switch_to_fiber(stack_.tsan_fiber(), __tsan_switch_to_fiber_no_sync);
#endif
#if defined(CUDASIM_ASAN)
  void* home_fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&home_fake_stack, stack_.base(), stack_.size());
#endif
  switch_context(home.context, context_);
#if defined(CUDASIM_ASAN)
  __sanitizer_finish_switch_fiber(home_fake_stack, nullptr, nullptr);
#endif
}

void Fiber::suspend(FiberHome& home, bool finished, const void* release) {
#if defined(CUDASIM_TSAN)
  void* const home_fiber = home.tsan_fiber;
  if (release != nullptr) __tsan_release(const_cast<void*>(release));
  __tsan_switch_to_fiber(home_fiber, __tsan_switch_to_fiber_no_sync);
#else
  static_cast<void>(release);
#endif
#if defined(CUDASIM_ASAN)
  __sanitizer_start_switch_fiber(finished ? nullptr : &fake_stack_, home.stack_bottom,
                                 home.stack_size);
#else
  static_cast<void>(finished);
#endif
  switch_context(context_, home.context);
#if defined(CUDASIM_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack_, &home.stack_bottom, &home.stack_size);
#endif
}

void Fiber::started(FiberHome& home) {
#if defined(CUDASIM_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &home.stack_bottom, &home.stack_size);
#else
  static_cast<void>(home);
#endif
}

}  // namespace cudasim
