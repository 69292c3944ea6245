// The peak of the heap bytes a stretch of code holds at once, counted
// through the sanitizer allocator's hooks (the fuzz targets always run
// under AddressSanitizer): every thread's malloc adds its size, every free
// takes away the size of the block it frees. Blocks allocated before the
// stretch and freed during it only lower the count, so the peak is of what
// the stretch itself added. One meter per process.
#pragma once

#include <sanitizer/allocator_interface.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vae_fuzz {

class PeakHeap {
 public:
  // Installs the hooks (once per process) and starts counting from zero.
  static void start() {
    static const bool installed = __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free);
    static_cast<void>(installed);
    now().store(0);
    peak().store(0);
    counting().store(true);
  }
  // Stops counting; the most bytes held at once since start().
  static int64_t stop() {
    counting().store(false);
    return peak().load();
  }

 private:
  static std::atomic<int64_t>& now() {
    static std::atomic<int64_t> bytes{0};
    return bytes;
  }
  static std::atomic<int64_t>& peak() {
    static std::atomic<int64_t> bytes{0};
    return bytes;
  }
  static std::atomic<bool>& counting() {
    static std::atomic<bool> on{false};
    return on;
  }
  static void on_malloc(const volatile void*, size_t size) {
    if (!counting().load(std::memory_order_relaxed)) return;
    const int64_t held = now().fetch_add(static_cast<int64_t>(size)) + static_cast<int64_t>(size);
    int64_t seen = peak().load();
    while (held > seen && !peak().compare_exchange_weak(seen, held)) {
    }
  }
  static void on_free(const volatile void* p) {
    if (!counting().load(std::memory_order_relaxed) || p == nullptr) return;
    now().fetch_sub(static_cast<int64_t>(__sanitizer_get_allocated_size(const_cast<const void*>(p))));
  }
};

}  // namespace vae_fuzz
