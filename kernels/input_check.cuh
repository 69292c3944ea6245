// Launchers of the device-side input check (kernels/input_check.cu). Each
// enqueues its work on `stream` and returns the first error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "step_state.h"

namespace vae::cuda {

// state->input_refused = 0, state->refused_index = all ones (none).
cudaError_t launch_reset_refusal(StepState* state, cudaStream_t stream);
// For every refused x[e], e < count: state->input_refused = 1 and
// state->refused_index = min(its value, e).
cudaError_t launch_input_check(const float* x, int64_t count, bool bernoulli, StepState* state,
                               int sm_count, cudaStream_t stream);

}  // namespace vae::cuda
