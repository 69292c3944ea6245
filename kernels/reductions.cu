// Reductions in a fixed order (DESIGN.md section 2: a seed gives
// bit-identical runs on the same device), with no floating-point atomics:
//   sum:         (1/n) sum_i v_i (the mean loss over the batch);
//   column sums: db_o = sum_r dy[r, o] (the bias gradient);
//   all finite:  whether the loss and every gradient the step applies are
//                finite (a step with a non-finite one changes nothing).
#include <cmath>

#include "launch.cuh"
#include "reductions.cuh"

namespace vae::cuda {
namespace {

// One block: thread t sums v[t], v[t + 256], ... in order, then block_sum.
__global__ void sum_kernel(const float* __restrict__ v, int64_t count, float divisor,
                           float* __restrict__ out) {
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) sum += v[i];
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) *out = sum / divisor;
}

// Blocks of kColumnTile columns x kRowGroups row groups (launch.cuh).
__global__ void column_sums_kernel(const float* __restrict__ m, int64_t rows, int64_t cols,
                                   float* __restrict__ out) {
  __shared__ float partial[kRowGroups][kColumnTile];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  float sum = 0.0f;
  if (c < cols) {
    for (int64_t r = threadIdx.y; r < rows; r += kRowGroups) sum += m[r * cols + c];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) total += partial[g][threadIdx.x];
    out[c] = total;
  }
}

// Grid-stride over g; one integer atomicOr per block that saw a non-finite
// value (the flag is a boolean, so the order of the writes cannot matter).
__global__ void all_finite_kernel(const float* __restrict__ loss, const float* __restrict__ g,
                                  int64_t count, int* __restrict__ flag) {
  int bad = 0;
  if (blockIdx.x == 0 && threadIdx.x == 0) bad = !isfinite(*loss);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = global_index(); e < count; e += stride) bad |= !isfinite(g[e]);
  if (__syncthreads_or(bad) != 0 && threadIdx.x == 0) atomicOr(flag, 1);
}

}  // namespace

cudaError_t launch_sum(const float* v, int64_t count, float divisor, float* out,
                       cudaStream_t stream) {
  sum_kernel<<<1, kThreads, 0, stream>>>(v, count, divisor, out);
  return cudaGetLastError();
}

cudaError_t launch_column_sums(const float* m, int64_t rows, int64_t cols, float* out,
                               cudaStream_t stream) {
  if (cols <= 0) return cudaSuccess;
  const dim3 block(kColumnTile, kRowGroups);
  column_sums_kernel<<<blocks_for(cols, kColumnTile), block, 0, stream>>>(m, rows, cols, out);
  return cudaGetLastError();
}

cudaError_t launch_all_finite(const float* loss, const float* g, int64_t count, int* flag,
                              cudaStream_t stream) {
  const cudaError_t cleared = cudaMemsetAsync(flag, 0, sizeof(int), stream);
  if (cleared != cudaSuccess) return cleared;
  constexpr unsigned int kMaxBlocks = 1024;
  unsigned int blocks = count > 0 ? blocks_for(count) : 1u;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  all_finite_kernel<<<blocks, kThreads, 0, stream>>>(loss, g, count, flag);
  return cudaGetLastError();
}

}  // namespace vae::cuda
