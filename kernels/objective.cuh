// Launchers of the per-data-point kernels that combine the K samples
// (kernels/objective.cu). Sample k of data point i is decoder row k n + i.
// Each enqueues its kernel on `stream` and returns the launch's error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "step_state.h"

namespace vae::cuda {

// row_loss[i] and weight[k n + i] of the ELBO or IWAE (vae::combine_samples).
// The KL weight is live->beta when live is not null, else beta.
cudaError_t launch_combine_samples(int objective, int64_t n, int64_t samples, double beta,
                                   const StepSettings* live, const float* nll, const float* kl,
                                   const float* kl_sample, float* weight, float* row_loss,
                                   cudaStream_t stream);

}  // namespace vae::cuda
