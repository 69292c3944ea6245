// The input rule checked where the data are first read on the device
// (DESIGN.md section 4): a value is refused when it is not finite, or for
// the Bernoulli likelihood when it lies outside [0, 1] (vae::input_value_ok).
// The least refused index is kept with an integer atomicMin, so the answer
// does not depend on the order the threads run in.
#include "input_check.cuh"
#include "input_check.h"
#include "launch.cuh"

namespace vae::cuda {
namespace {

__global__ void input_check_kernel(const float* __restrict__ x, int64_t count, bool bernoulli,
                                   StepState* __restrict__ state) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = global_index64(); e < count; e += stride) {
    if (!input_value_ok(x[e], bernoulli)) {
      atomicMin(reinterpret_cast<unsigned long long*>(&state->refused_index),
                static_cast<unsigned long long>(e));
      atomicExch(&state->input_refused, 1);
      return;  // this thread's later elements have larger indices
    }
  }
}

}  // namespace

cudaError_t launch_reset_refusal(StepState* state, cudaStream_t stream) {
  const cudaError_t flag = cudaMemsetAsync(&state->input_refused, 0, sizeof(state->input_refused),
                                           stream);
  if (flag != cudaSuccess) return flag;
  return cudaMemsetAsync(&state->refused_index, 0xFF, sizeof(state->refused_index), stream);
}

cudaError_t launch_input_check(const float* x, int64_t count, bool bernoulli, StepState* state,
                               int sm_count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  return launch("input_check", input_check_kernel, grid_stride_blocks(count, sm_count), kThreads,
                stream, x, count, bernoulli, state);
}

}  // namespace vae::cuda
