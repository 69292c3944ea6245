#include "failing_allocator.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace vae::testing {
namespace {

std::atomic<int64_t> allocations{0};
std::atomic<int64_t> fail_at_allocation{0};
std::atomic<bool> fail_persistently{false};
std::atomic<bool> has_failed{false};
std::atomic<int> watching{0};
std::atomic<int64_t> live{0};
std::atomic<std::size_t> largest_size{0};

// Counts a watched allocation of `size` bytes; whether it is to fail.
bool should_fail(std::size_t size) {
  if (watching.load(std::memory_order_relaxed) == 0) return false;
  std::size_t largest = largest_size.load(std::memory_order_relaxed);
  while (size > largest && !largest_size.compare_exchange_weak(largest, size)) {
  }
  const int64_t n = allocations.fetch_add(1, std::memory_order_relaxed) + 1;
  const int64_t fail_at = fail_at_allocation.load(std::memory_order_relaxed);
  if (fail_at == 0 || n < fail_at || (n > fail_at && !fail_persistently)) return false;
  has_failed.store(true, std::memory_order_relaxed);
  return true;
}

void* allocate(std::size_t size) noexcept {
  if (should_fail(size)) return nullptr;
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p != nullptr) live.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) noexcept {
  if (should_fail(size)) return nullptr;
  const auto align = static_cast<std::size_t>(alignment);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (size == 0 ? 1 : size + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (p != nullptr) live.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void* allocate_or_throw(std::size_t size) {
  void* p = allocate(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* allocate_aligned_or_throw(std::size_t size, std::align_val_t alignment) {
  void* p = allocate_aligned(size, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  live.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

void FailingAllocator::reset(int64_t fail_at, bool persistent) {
  allocations = 0;
  largest_size = 0;
  has_failed = false;
  fail_persistently = persistent;
  fail_at_allocation = fail_at;
}
void FailingAllocator::disarm() { fail_at_allocation = 0; }
void FailingAllocator::begin_watch() { ++watching; }
void FailingAllocator::end_watch() { --watching; }
int64_t FailingAllocator::count() { return allocations; }
std::size_t FailingAllocator::largest() { return largest_size; }
bool FailingAllocator::failed() { return has_failed; }
int64_t FailingAllocator::live_blocks() { return live; }

}  // namespace vae::testing

using vae::testing::allocate;
using vae::testing::allocate_aligned;
using vae::testing::allocate_aligned_or_throw;
using vae::testing::allocate_or_throw;
using vae::testing::release;

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t a) { return allocate_aligned_or_throw(size, a); }
void* operator new[](std::size_t size, std::align_val_t a) { return allocate_aligned_or_throw(size, a); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, a);
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
