// Launcher of the row gather with the fused byte transform (kernels/bytes.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "byte_transform.h"
#include "philox.h"
#include "step_state.h"

namespace vae::cuda {

// The rows a dataset gives to one call, in device memory.
struct GatherSource {
  const float* floats = nullptr;  // [rows, dim] when the dataset holds floats
  const uint8_t* u8 = nullptr;    // [rows, dim] when it holds bytes
  const int64_t* order = nullptr; // the epoch's permutation, or null for rows in order
  int64_t dim = 0;
  ByteTransform transform = ByteTransform::kScale;
};

// x[i, d] for i < n from dataset row first + i (through order when it is
// not null; with `epoch`, first is advanced by epoch->cursor and the byte
// noise keyed by epoch->steps): the float as stored, or the byte transformed
// with u = standard_uniform(bytes, i dim + d).
cudaError_t launch_gather_rows(const GatherSource& src, int64_t first, int64_t n,
                               const NoiseKey& bytes, const StepState* epoch, float* x,
                               cudaStream_t stream);

}  // namespace vae::cuda
