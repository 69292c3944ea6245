// Launchers of a conditional model's input kernels (kernels/conditions.cu,
// the element math in kernels/condition.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "condition.h"
#include "step_state.h"

namespace vae::cuda {

// out[r] = [left[r] | cond[condition_row(m, r)]] for r < rows, each row
// left_width + cond_width wide (rows times that below 2^31).
cudaError_t launch_join_condition(const float* left, int64_t left_width, const float* cond,
                                  int64_t cond_width, const ConditionRows& m, int64_t rows,
                                  float* out, cudaStream_t stream);

// A dataset's conditions in device memory: floats [rows, width], or labels
// [rows] whose one-hot rows of width classes are the conditions.
struct ConditionSource {
  const float* floats = nullptr;
  const uint8_t* labels = nullptr;
  const int64_t* order = nullptr;  // the epoch's permutation, or null for rows in order
  int64_t width = 0;
};

// out[i] for i < n: the condition of dataset row first + i, or with order
// of row order[first + i] (with `epoch`, first is advanced by
// epoch->cursor), the rows launch_gather_rows takes.
cudaError_t launch_gather_conditions(const ConditionSource& src, int64_t first, int64_t n,
                                     const StepState* epoch, float* out, cudaStream_t stream);

}  // namespace vae::cuda
