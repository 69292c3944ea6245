// Reductions in a fixed order (DESIGN.md section 2: a seed gives
// bit-identical runs on the same device), with no floating-point atomics:
//   sum:         (1/n) sum_i v_i (the mean loss over the batch);
//   column sums: db_o = sum_r dy[r, o] (the bias gradient), in the two
//                launches of launch_column_reduction (launch.cuh).
#include "launch.cuh"
#include "reductions.cuh"

namespace vae::cuda {
namespace {

// One block: thread t sums v[t], v[t + 256], ... in order, then block_sum.
__global__ void sum_kernel(const float* __restrict__ v, int count, float divisor,
                           float* __restrict__ out) {
  float sum = 0.0f;
  for (int i = static_cast<int>(threadIdx.x); i < count; i += kThreads) sum += v[i];
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) *out = sum / divisor;
}

// The element (r, c) of a row-major matrix, for launch_column_reduction.
struct MatrixElement {
  const float* m;
  int cols;
  __device__ float operator()(int r, int c) const { return m[r * cols + c]; }
};

}  // namespace

__global__ void column_finish_kernel(const float* __restrict__ partial, int chunks, int cols,
                                     float* __restrict__ out) {
  const uint32_t c = global_index();
  if (c >= static_cast<uint32_t>(cols)) return;
  float total = 0.0f;
  for (int k = 0; k < chunks; ++k) total += partial[k * cols + static_cast<int>(c)];
  out[c] = total;
}

int column_chunks(int64_t rows, int64_t cols, int sm_count) {
  const int64_t tiles = (cols + kColumnTile - 1) / kColumnTile;
  int64_t chunks = (2 * int64_t{sm_count} + tiles - 1) / tiles;
  if (chunks > kMaxColumnChunks) chunks = kMaxColumnChunks;
  if (chunks > rows) chunks = rows;
  return static_cast<int>(chunks < 1 ? 1 : chunks);
}

cudaError_t launch_sum(const float* v, int64_t count, float divisor, float* out,
                       cudaStream_t stream) {
  return launch("sum", sum_kernel, 1, kThreads, stream, v, static_cast<int>(count), divisor, out);
}

cudaError_t launch_column_sums(const float* m, int64_t rows, int64_t cols, float* partial,
                               float* out, int sm_count, cudaStream_t stream) {
  return launch_column_reduction(MatrixElement{m, static_cast<int>(cols)}, rows, cols, partial,
                                 out, sm_count, stream);
}

}  // namespace vae::cuda
