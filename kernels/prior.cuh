// Launchers of a learned mixture prior's kernels (kernels/prior.cu; the
// mathematics is src/mixture_prior.h). Each enqueues its kernel on `stream`
// and returns the launch's error (cudaSuccess when there was nothing to do).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "evaluation.h"
#include "mixture_prior.h"
#include "step_state.h"

namespace vae::cuda {

// Per decoder row r < rows (data row r mod n of mu_logvar [n, 2Z]):
// kl_sample[r] = log q(z_r|x) - log p(z_r); with resp and prior_grad not
// null, the responsibilities [rows, K] and -d log p / dz [rows, Z].
cudaError_t launch_prior_forward(const MixturePrior<float>& prior, const float* mu_logvar,
                                 const float* eps, const float* z, int64_t n, int64_t rows,
                                 float* kl_sample, float* resp, float* prior_grad,
                                 cudaStream_t stream);

// The loss's gradient by the prior's 2 K Z + K parameters
// (prior_parameter_gradient, scale beta / mean_rows; beta is live->beta
// when live is not null), into d_means, d_log_variances and d_logits.
cudaError_t launch_prior_backward(const MixturePrior<float>& prior, int64_t rows, const float* z,
                                  const float* resp, const float* weight, int64_t mean_rows,
                                  double beta, const StepSettings* live, float* d_means,
                                  float* d_log_variances, float* d_logits, cudaStream_t stream);

// rows draws of the mixture in place: z holds each row's standard normal
// eps; row r picks its component with element r of the uniform array
// `components` (mixture_draw).
cudaError_t launch_prior_sample(const MixturePrior<float>& prior, const NoiseKey& components,
                                int64_t rows, float* z, cudaStream_t stream);

// Per pair p of evaluation chunk c, after launch_eval_latent:
// mixture_eval_pair with the component draw u = element g (the call's pair)
// of mixture_component_key(key): the prior estimator's z redrawn from the
// mixture, the others' kl_sample[p] under it.
cudaError_t launch_eval_prior(EvalMode mode, const EvalChunk& c, const NoiseKey& key,
                              const MixturePrior<float>& prior, const float* mu_logvar,
                              const float* eps, float* z, float* kl_sample, cudaStream_t stream);

}  // namespace vae::cuda
