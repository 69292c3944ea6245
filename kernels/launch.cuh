// What the CUDA kernels share: the one launch helper, the launch shape and a
// block reduction whose order is fixed by the thread indices alone, so a sum
// comes out bit for bit the same on every run (DESIGN.md section 2:
// reductions use a fixed order). Device code only; included by kernels/*.cu,
// which nvcc compiles for a GPU or the host compiler for the simulated device
// (sim/, VAE_CUDA_SIMULATOR).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "reductions.cuh"

namespace vae::cuda {

// Queues kernel(args...) on `stream` as a grid of `grid` blocks of `block`
// threads and returns the launch's error: nvcc's kernel<<<grid, block, 0,
// stream>>>, or on the simulated device its launch, which names the kernel
// in what it reports. Every launch of the backend goes through here.
template <class... Params, class... Args>
cudaError_t launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block,
                   cudaStream_t stream, Args&&... args) {
#if defined(VAE_CUDA_SIMULATOR)
  static_cast<void>(
      cudasim::launch(name, kernel, grid, block, 0, stream, std::forward<Args>(args)...));
#else
  static_cast<void>(name);
  kernel<<<grid, block, 0, stream>>>(std::forward<Args>(args)...);
#endif
  return cudaGetLastError();
}

// Threads per block of the one-dimensional kernels.
constexpr int kThreads = 256;

// Blocks of `threads` that cover `count` elements.
inline unsigned int blocks_for(int64_t count, int threads = kThreads) {
  return static_cast<unsigned int>((count + threads - 1) / threads);
}

// This thread's element of a one-dimensional launch. Every buffer of the
// workspace holds fewer than 2^31 elements (Config::validate), so 32-bit
// index arithmetic is exact there; global_index64 is for the flat parameter
// buffers and the datasets, which may be larger.
// (unsigned, so the last block's threads past 2^31 - 1 do not wrap negative).
__device__ __forceinline__ uint32_t global_index() { return blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t global_index64() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// Sum over the 32 lanes of a warp by a shuffle tree: lane 0 gets
// ((v0 + v16) + (v8 + v24)) + ..., the same association on every run.
// V is float or double.
template <class V>
__device__ __forceinline__ V warp_sum(V v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over a block of exactly kBlock threads (a multiple of 32, at most
// 1024): each warp by warp_sum, then warp 0 over the warp sums in warp
// order. The result is valid in thread 0. Call once per kernel (it uses a
// static shared array) and from every thread of the block.
template <int kBlock, class V>
__device__ V block_sum(V v) {
  static_assert(kBlock % 32 == 0 && kBlock <= 1024, "block of whole warps");
  __shared__ V warp_totals[kBlock / 32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  v = threadIdx.x < kBlock / 32 ? warp_totals[threadIdx.x] : V(0);
  if (warp == 0) v = warp_sum(v);
  return v;
}

// Column sums out[c] = sum_r value(r, c) over a row-major [rows, cols]
// matrix, in two launches whose order is fixed by the sizes and the chunk
// count alone. The rows are cut into `chunks` contiguous chunks so that the
// first launch has enough blocks to fill the device (a [rows, 784] gradient
// of 8192 rows would otherwise give 25 blocks). In the first, block (x, y)
// of kColumnTile x kRowGroups threads takes columns 32x.. of chunk y:
// thread (c, g) sums rows g, g + kRowGroups, ... of the chunk in order,
// thread (c, 0) adds the kRowGroups sums in group order into partial[y, c];
// the second adds the chunks' sums in chunk order. Consecutive threads read
// consecutive columns, so the loads are coalesced.
constexpr int kColumnTile = 32;
constexpr int kRowGroups = 8;

template <class Value>
__global__ void column_partial_kernel(Value value, int rows, int cols, int rows_per_chunk,
                                      float* __restrict__ partial) {
  __shared__ float sums[kRowGroups][kColumnTile];
  const int c = static_cast<int>(blockIdx.x) * kColumnTile + static_cast<int>(threadIdx.x);
  const int begin = static_cast<int>(blockIdx.y) * rows_per_chunk;
  const int end = min(rows, begin + rows_per_chunk);
  float sum = 0.0f;
  if (c < cols) {
    for (int r = begin + static_cast<int>(threadIdx.y); r < end; r += kRowGroups) sum += value(r, c);
  }
  sums[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) total += sums[g][threadIdx.x];
    partial[static_cast<int64_t>(blockIdx.y) * cols + c] = total;
  }
}

__global__ void column_finish_kernel(const float* __restrict__ partial, int chunks, int cols,
                                     float* __restrict__ out);

// The chunk count for a [rows, cols] reduction on a device of sm_count
// multiprocessors: about two blocks per multiprocessor, at most
// kMaxColumnChunks, at most one chunk per row.
int column_chunks(int64_t rows, int64_t cols, int sm_count);

// Enqueues both launches; partial holds column_chunks(...) * cols floats.
template <class Value>
cudaError_t launch_column_reduction(Value value, int64_t rows, int64_t cols, float* partial,
                                    float* out, int sm_count, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaSuccess;
  const int chunks = column_chunks(rows, cols, sm_count);
  const int rows_per_chunk = static_cast<int>((rows + chunks - 1) / chunks);
  const dim3 block(kColumnTile, kRowGroups);
  const dim3 grid(static_cast<unsigned int>((cols + kColumnTile - 1) / kColumnTile),
                  static_cast<unsigned int>(chunks));
  const cudaError_t launched =
      launch("column_partial", column_partial_kernel<Value>, grid, block, stream, value,
             static_cast<int>(rows), static_cast<int>(cols), rows_per_chunk, partial);
  if (launched != cudaSuccess) return launched;
  return launch("column_finish", column_finish_kernel, blocks_for(cols), kThreads, stream, partial,
                chunks, static_cast<int>(cols), out);
}

// The blocks a grid-stride kernel over `count` elements needs: one element
// per thread, but no more than fill the device `waves` times over.
inline unsigned int grid_stride_blocks(int64_t count, int sm_count, int waves = 8) {
  const int64_t needed = (count + kThreads - 1) / kThreads;
  const int64_t cap = int64_t{sm_count} * waves;
  return static_cast<unsigned int>(needed < 1 ? 1 : needed < cap ? needed : cap);
}

}  // namespace vae::cuda
