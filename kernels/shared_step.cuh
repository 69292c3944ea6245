// Launchers of a shared step's tail kernels (kernels/shared_step.cu), over
// the rules of kernels/shared_step.h. Each enqueues its work on `stream` and
// returns the first error; nothing waits for the device.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "shared_step.h"
#include "step_state.h"

namespace vae::cuda {

// The rank's tail before the hook's sum: slot 0 the sum of row_loss[0, n)
// (the sum kernel of the mean loss, so one rank's sum divides to the mean
// bit for bit), the rest vae::write_share_tail, reading the step state.
cudaError_t launch_write_share_tail(const float* row_loss, int64_t n, bool refused, bool stop,
                                    const StepVote& vote, const StepState* state, float* tail,
                                    cudaStream_t stream);

// vae::accept_share_tail on the device (one thread), after the hook's sum.
cudaError_t launch_accept_share_tail(StepState* state, const float* tail, int64_t world,
                                     int64_t batch_rows, float* loss, cudaStream_t stream);

}  // namespace vae::cuda
