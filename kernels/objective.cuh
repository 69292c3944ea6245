// Launchers of the per-data-point kernels that combine the K samples
// (kernels/objective.cu). Sample k of data point i is decoder row k n + i.
// Each enqueues its kernel on `stream` and returns the launch's error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace vae::cuda {

// row_loss[i] and weight[k n + i] of the ELBO or IWAE (vae::combine_samples).
cudaError_t launch_combine_samples(int objective, int64_t n, int64_t samples, double beta,
                                   const float* nll, const float* kl, const float* kl_sample,
                                   float* weight, float* row_loss, cudaStream_t stream);

// The running log-sum-exp of the estimator's log weights over a chunk of samples.
cudaError_t launch_accumulate_log_weights(int estimator, int64_t n, int64_t samples,
                                          const float* nll, const float* kl_sample, float* top,
                                          float* sum, cudaStream_t stream);

// out[i] = top[i] + log(sum[i]) - log K.
cudaError_t launch_finish_log_mean_exp(int64_t n, int64_t samples, const float* top,
                                       const float* sum, float* out, cudaStream_t stream);

// reconstruction[i] = -(1/K) sum_k nll[k n + i], elbo[i] = reconstruction[i] - kl[i].
cudaError_t launch_elbo_terms(int64_t n, int64_t samples, const float* nll, const float* kl,
                              float* reconstruction, float* elbo, cudaStream_t stream);

}  // namespace vae::cuda
