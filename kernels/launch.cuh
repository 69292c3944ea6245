// What the CUDA kernels share: the launch shape and a block reduction whose
// order is fixed by the thread indices alone, so a sum comes out bit for bit
// the same on every run (DESIGN.md section 2: reductions use a fixed order).
// Device code only; included by kernels/*.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace vae::cuda {

// Threads per block of the one-dimensional kernels.
constexpr int kThreads = 256;

// Blocks of `threads` that cover `count` elements.
inline unsigned int blocks_for(int64_t count, int threads = kThreads) {
  return static_cast<unsigned int>((count + threads - 1) / threads);
}

// This thread's element of a one-dimensional launch.
__device__ __forceinline__ int64_t global_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// Sum over the 32 lanes of a warp by a shuffle tree: lane 0 gets
// ((v0 + v16) + (v8 + v24)) + ..., the same association on every run.
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over a block of exactly kBlock threads (a multiple of 32, at most
// 1024): each warp by warp_sum, then warp 0 over the warp sums in warp
// order. The result is valid in thread 0. Call once per kernel (it uses a
// static shared array) and from every thread of the block.
template <int kBlock>
__device__ float block_sum(float v) {
  static_assert(kBlock % 32 == 0 && kBlock <= 1024, "block of whole warps");
  __shared__ float warp_totals[kBlock / 32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  v = threadIdx.x < kBlock / 32 ? warp_totals[threadIdx.x] : 0.0f;
  if (warp == 0) v = warp_sum(v);
  return v;
}

// Column reductions over a row-major [rows, cols] matrix use blocks of
// kColumnTile x kRowGroups threads: thread (c, g) sums rows g, g + kRowGroups,
// ... of column c in row order, then thread (c, 0) adds the kRowGroups
// partial sums in group order.
constexpr int kColumnTile = 32;
constexpr int kRowGroups = 8;

}  // namespace vae::cuda
