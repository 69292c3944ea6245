// Launchers of the latent-layer kernels (kernels/latent.cu). Each enqueues
// its kernel on `stream` and returns the launch's error (cudaSuccess when
// there was nothing to do); the caller checks it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "model_math.h"
#include "philox.h"
#include "step_state.h"

namespace vae::cuda {

// For the rows = n * samples decoder rows r = k n + i: eps (drawn from
// noise.key unless noise.injected, its counter read from *noise.counter when
// that is not null, row r drawing the noise of its place noise_row in the
// batch; else as given), z = mu + sigma eps, the sampled KL per row and the
// analytic KL of each of the n data points. mu_logvar is [n, 2Z].
cudaError_t launch_latent_forward(const float* mu_logvar, int64_t n, int64_t samples,
                                  int64_t latent, const NoiseSource& noise, float* eps,
                                  float* z, float* kl, float* kl_sample, cudaStream_t stream);

// d[mu | logvar] [n, 2Z] from dz [n * samples, Z] (vae::latent_gradient), the
// loss a mean over mean_rows rows; the KL weight is live->beta when live is
// not null, else beta. prior_grad: a learned prior's -d log p / dz, or null.
cudaError_t launch_latent_backward(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                                   int64_t latent, double beta, const StepSettings* live,
                                   const float* mu_logvar,
                                   const float* eps, const float* z, const float* prior_grad,
                                   const float* dz, const float* weight, float* d_mu_logvar,
                                   cudaStream_t stream);

// out[e] = element e of the standard normal array named by key.
cudaError_t launch_standard_normal(const NoiseKey& key, int64_t count, float* out,
                                   cudaStream_t stream);

}  // namespace vae::cuda
