// The device side of the simulated CUDA runtime: what a kernel's body sees
// while the simulator runs it (sim/src/block_runner.cpp). Every thread of a
// block is a fiber of its own, so a barrier or a warp shuffle really waits
// for the other threads of the block or warp, and one that some thread
// never reaches is reported, naming the kernel and the thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cuda_runtime_api.h"

namespace cudasim {

// Where the running simulated thread is in its launch.
struct ThreadPlace {
  uint3 thread;
  uint3 block;
  dim3 block_dim;
  dim3 grid_dim;
};

// The running thread's place; a call outside a simulated kernel is a fault.
CUDASIM_EXPORT const ThreadPlace& place();
// __syncthreads and __syncthreads_or: wait until every thread of the block
// arrives; the second returns non-zero when any thread's predicate is.
CUDASIM_EXPORT int block_barrier(int predicate);
// __shfl_down_sync on a 32-bit word: waits for the lanes of `mask` and
// returns lane (lane + delta)'s word, or the caller's own where that lane is
// past the segment of `width` lanes.
CUDASIM_EXPORT uint32_t shuffle_down(unsigned int mask, uint32_t word, unsigned int delta,
                                     int width);

// A value of 32 or 64 bits, the second as two words in turn, as the
// hardware's shuffle of a double is two.
template <class T>
T shuffle_down_value(unsigned int mask, T value, unsigned int delta, int width) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "the simulator shuffles 32- and 64-bit values");
  uint32_t words[sizeof(T) / 4];
  std::memcpy(words, &value, sizeof(T));
  for (uint32_t& word : words) word = shuffle_down(mask, word, delta, width);
  std::memcpy(&value, words, sizeof(T));
  return value;
}

}  // namespace cudasim

#define threadIdx (::cudasim::place().thread)
#define blockIdx (::cudasim::place().block)
#define blockDim (::cudasim::place().block_dim)
#define gridDim (::cudasim::place().grid_dim)

inline void __syncthreads() { static_cast<void>(::cudasim::block_barrier(0)); }
inline int __syncthreads_or(int predicate) { return ::cudasim::block_barrier(predicate); }

template <class T>
T __shfl_down_sync(unsigned int mask, T value, unsigned int delta, int width = 32) {
  return ::cudasim::shuffle_down_value(mask, value, delta, width);
}

// Device atomics: relaxed read-modify-writes of the device's memory.
inline int atomicOr(int* p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }
inline unsigned int atomicOr(unsigned int* p, unsigned int v) {
  return __atomic_fetch_or(p, v, __ATOMIC_RELAXED);
}
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  unsigned long long old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < old &&
         !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline float atomicAdd(float* p, float v) {
  uint32_t old = __atomic_load_n(reinterpret_cast<uint32_t*>(p), __ATOMIC_RELAXED);
  for (;;) {
    float f;
    std::memcpy(&f, &old, 4);
    f += v;
    uint32_t next;
    std::memcpy(&next, &f, 4);
    if (__atomic_compare_exchange_n(reinterpret_cast<uint32_t*>(p), &old, next, true,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
      std::memcpy(&f, &old, 4);
      return f;
    }
  }
}
