// Launchers of the fixed-order reductions (kernels/reductions.cu). Each
// enqueues its work on `stream` and returns the first error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace vae::cuda {

// The most row chunks of a column reduction (launch_column_reduction in
// launch.cuh): its scratch holds kMaxColumnChunks rows of the columns.
constexpr int kMaxColumnChunks = 64;

// *out = (sum_i v[i]) / divisor over count values, by one block in a fixed
// order (the mean of the row losses; divisor 1 for a plain sum).
cudaError_t launch_sum(const float* v, int64_t count, float divisor, float* out,
                       cudaStream_t stream);

// out[c] = sum_r m[r, c] over a row-major [rows, cols] matrix, rows in a
// fixed order (the bias gradient: column sums of dy); partial is scratch of
// kMaxColumnChunks * cols floats (launch.cuh).
cudaError_t launch_column_sums(const float* m, int64_t rows, int64_t cols, float* partial,
                               float* out, int sm_count, cudaStream_t stream);

}  // namespace vae::cuda
