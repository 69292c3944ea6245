#include "block_runner.h"

#include <atomic>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cudasim/device.h"
#include "fiber.h"
#include "state.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CUDASIM_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CUDASIM_TSAN 1
#endif
#if defined(CUDASIM_TSAN)
#include <sanitizer/tsan_interface.h>
#define CUDASIM_TSAN_RELEASE(p) __tsan_release(p)
#define CUDASIM_TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define CUDASIM_TSAN_RELEASE(p) static_cast<void>(p)
#define CUDASIM_TSAN_ACQUIRE(p) static_cast<void>(p)
#endif

namespace cudasim {
namespace {

enum Waiting : int { kRunnable, kBarrier, kShuffle, kExited };

// One simulated thread. The fields the thread and the scheduler both touch
// are atomics, for TSan: the fibers are threads of their own to it, ordered
// only by the barriers. All of a block's fibers run on one thread, so
// relaxed order is enough (load and store below).
struct SimThread {
  ThreadPlace place{};
  std::unique_ptr<Fiber> fiber;
  std::atomic<int> waiting{kRunnable};
  std::atomic<int> predicate{0};  // in: its own; out: the block's OR
  std::atomic<uint32_t> word{0};  // in: its word; out: the word it receives
  std::atomic<uint32_t> mask{0};
  std::atomic<uint32_t> delta{0};
  std::atomic<int> width{32};
};

struct BlockRun {
  const char* kernel = nullptr;
  const std::function<void()>* body = nullptr;
  FiberHome home;
  std::vector<SimThread> threads;
  std::atomic<int> generation{0};
  // TSan's synchronization objects: the launch, the block's end, and the
  // barriers (two, alternating, so that a thread already at the next
  // barrier cannot lend its later writes to one still leaving this one).
  char start_token = 0;
  char done_token = 0;
  char barrier_token[2] = {0, 0};
};

template <class T>
T load(const std::atomic<T>& a) {
  return a.load(std::memory_order_relaxed);
}
template <class T, class U>
void store(std::atomic<T>& a, U v) {
  a.store(static_cast<T>(v), std::memory_order_relaxed);
}

// Read at every threadIdx: initial-exec, so no call to find them; atomics,
// because the home thread sets them and the fibers read them.
__attribute__((tls_model("initial-exec"))) thread_local std::atomic<BlockRun*> running_block{nullptr};
__attribute__((tls_model("initial-exec"))) thread_local std::atomic<SimThread*> running_thread{
    nullptr};
// Each worker's stacks, reused from block to block.
thread_local std::vector<std::unique_ptr<FiberStack>> stack_pool;
thread_local bool stacks_dirty = false;

std::string where(const SimThread& t) {
  std::ostringstream out;
  out << "thread (" << t.place.thread.x << "," << t.place.thread.y << "," << t.place.thread.z
      << ") of block (" << t.place.block.x << "," << t.place.block.y << "," << t.place.block.z
      << ")";
  return out.str();
}

const char* waiting_text(int w) {
  switch (w) {
    case kBarrier: return "waits at __syncthreads";
    case kShuffle: return "waits at a shuffle";
    case kExited: return "has exited";
    default: return "runs";
  }
}

void thread_entry() {
  BlockRun& b = *load(running_block);
  SimThread& t = *load(running_thread);
  Fiber::started(b.home);
  CUDASIM_TSAN_ACQUIRE(&b.start_token);
  (*b.body)();
  store(t.waiting, kExited);
  t.fiber->suspend(b.home, true, &b.done_token);
}

// From a simulated thread: wait in state w until the scheduler releases it.
void wait_here(int w) {
  BlockRun& b = *load(running_block);
  SimThread& t = *load(running_thread);
  store(t.waiting, w);
  t.fiber->suspend(b.home, false);
}

// Releases each warp whose lanes all wait at the same shuffle; sets *bad to
// a fault's text when a shuffle can never complete. Returns whether any
// warp was released.
bool release_shuffles(BlockRun& b, std::string* bad) {
  bool released = false;
  const size_t n = b.threads.size();
  for (size_t first = 0; first < n; first += 32) {
    const size_t lanes = std::min<size_t>(32, n - first);
    size_t at = lanes;
    for (size_t l = 0; l < lanes; ++l) {
      if (load(b.threads[first + l].waiting) == kShuffle) {
        at = l;
        break;
      }
    }
    if (at == lanes) continue;
    const SimThread& caller = b.threads[first + at];
    const uint32_t mask = load(caller.mask);
    bool complete = true;
    for (size_t l = 0; l < 32 && complete; ++l) {
      if ((mask >> l & 1u) == 0) continue;
      if (l >= lanes) {
        *bad = where(caller) + " shuffles with mask " + std::to_string(mask) + ", but lane " +
               std::to_string(l) + " is not a thread of the block";
        return false;
      }
      const SimThread& other = b.threads[first + l];
      if (load(other.waiting) != kShuffle || load(other.mask) != mask) {
        if (load(other.waiting) == kRunnable) {
          complete = false;
          continue;
        }
        *bad = where(caller) + " waits at a shuffle of mask " + std::to_string(mask) + ", but " +
               where(other) + " " + waiting_text(load(other.waiting)) + " and never reaches it";
        return false;
      }
    }
    if (!complete) continue;
    uint32_t words[32] = {};
    for (size_t l = 0; l < lanes; ++l) words[l] = load(b.threads[first + l].word);
    for (size_t l = 0; l < lanes; ++l) {
      if ((mask >> l & 1u) == 0) continue;
      SimThread& t = b.threads[first + l];
      const auto width = static_cast<size_t>(load(t.width));
      const size_t delta = load(t.delta);
      if (l % width + delta < width && l + delta < lanes) store(t.word, words[l + delta]);
      store(t.waiting, kRunnable);
    }
    released = true;
  }
  return released;
}

// Releases the block from its barrier when every thread waits there.
bool release_barrier(BlockRun& b, std::string* bad) {
  const SimThread* at_barrier = nullptr;
  const SimThread* elsewhere = nullptr;
  int any = 0;
  for (const SimThread& t : b.threads) {
    if (load(t.waiting) == kBarrier) {
      if (at_barrier == nullptr) at_barrier = &t;
      any |= load(t.predicate);
    } else if (elsewhere == nullptr) {
      elsewhere = &t;
    }
  }
  if (at_barrier == nullptr) return false;
  if (elsewhere != nullptr) {
    *bad = where(*at_barrier) + " waits at __syncthreads, but " + where(*elsewhere) + " " +
           waiting_text(load(elsewhere->waiting)) + " and never reaches it";
    return false;
  }
  store(b.generation, load(b.generation) + 1);
  for (SimThread& t : b.threads) {
    store(t.predicate, any);
    store(t.waiting, kRunnable);
  }
  return true;
}

std::vector<FiberStack*> take_stacks(size_t n) {
  if (stacks_dirty) {
    for (auto& s : stack_pool) s->unpoison();
    stacks_dirty = false;
  }
  while (stack_pool.size() < n) {
    stack_pool.push_back(std::make_unique<FiberStack>(fiber_stack_bytes()));
  }
  std::vector<FiberStack*> stacks(n);
  for (size_t i = 0; i < n; ++i) stacks[i] = stack_pool[i].get();
  return stacks;
}

bool run_block(const char* name, dim3 grid, dim3 block, uint3 block_index,
               const std::function<void()>& body) {
  const size_t n = size_t{block.x} * block.y * block.z;
  BlockRun b;
  b.kernel = name;
  b.body = &body;
  b.threads = std::vector<SimThread>(n);
  const std::vector<FiberStack*> stacks = take_stacks(n);
  for (size_t i = 0; i < n; ++i) {
    SimThread& t = b.threads[i];
    const auto linear = static_cast<unsigned int>(i);
    t.place.thread = uint3{linear % block.x, linear / block.x % block.y,
                           linear / (block.x * block.y)};
    t.place.block = block_index;
    t.place.block_dim = block;
    t.place.grid_dim = grid;
    t.fiber = std::make_unique<Fiber>(*stacks[i], &thread_entry);
  }
  b.home.prepare();
  CUDASIM_TSAN_RELEASE(&b.start_token);
  store(running_block, &b);
  std::string bad;
  for (;;) {
    bool all_exited = true;
    for (SimThread& t : b.threads) {
      if (load(t.waiting) == kRunnable) {
        store(running_thread, &t);
        t.fiber->resume(b.home);
        store(running_thread, nullptr);
      }
      if (load(t.waiting) != kExited) all_exited = false;
    }
    if (all_exited) break;
    if (release_shuffles(b, &bad)) continue;
    if (!bad.empty() || !release_barrier(b, &bad)) {
      if (bad.empty()) bad = "no thread of block can go on";
      break;
    }
  }
  store(running_block, nullptr);
  if (!bad.empty()) {
    // The threads left waiting are abandoned part way; their stacks are
    // cleaned before reuse.
    stacks_dirty = true;
    fault(cudaErrorLaunchFailure, std::string("kernel ") + name + ": " + bad);
    return false;
  }
  CUDASIM_TSAN_ACQUIRE(&b.done_token);
  return true;
}

SimThread& current(const char* what) {
  SimThread* t = load(running_thread);
  if (t == nullptr) {
    fault(cudaErrorLaunchFailure, std::string(what) + " called outside a simulated kernel");
    static thread_local SimThread outside;
    return outside;
  }
  return *t;
}

}  // namespace

bool run_kernel(const char* name, dim3 grid, dim3 block, const std::function<void()>& body) {
  for (unsigned int z = 0; z < grid.z; ++z) {
    for (unsigned int y = 0; y < grid.y; ++y) {
      for (unsigned int x = 0; x < grid.x; ++x) {
        if (sticky_error() != cudaSuccess) return false;
        if (!run_block(name, grid, block, uint3{x, y, z}, body)) return false;
      }
    }
  }
  return true;
}

const ThreadPlace& place() { return current("threadIdx").place; }

int block_barrier(int predicate) {
  SimThread& t = current("__syncthreads");
  BlockRun* const block = load(running_block);
  if (block == nullptr) return 0;
  BlockRun& b = *block;
  const int slot = load(b.generation) & 1;
  store(t.predicate, predicate);
  CUDASIM_TSAN_RELEASE(&b.barrier_token[slot]);
  wait_here(kBarrier);
  CUDASIM_TSAN_ACQUIRE(&b.barrier_token[slot]);
  return load(t.predicate);
}

uint32_t shuffle_down(unsigned int mask, uint32_t word, unsigned int delta, int width) {
  SimThread& t = current("__shfl_down_sync");
  BlockRun* const block = load(running_block);
  if (block == nullptr) return word;
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    fault(cudaErrorLaunchFailure, std::string("kernel ") + block->kernel + ": " +
                                      where(t) + " shuffles with width " + std::to_string(width));
    return word;
  }
  const auto lane = static_cast<uint32_t>((&t - block->threads.data()) % 32);
  if ((mask >> lane & 1u) == 0) {
    fault(cudaErrorLaunchFailure, std::string("kernel ") + block->kernel + ": " +
                                      where(t) + " shuffles with a mask that leaves it out");
    return word;
  }
  store(t.mask, mask);
  store(t.word, word);
  store(t.delta, delta);
  store(t.width, width);
  wait_here(kShuffle);
  return load(t.word);
}

}  // namespace cudasim
