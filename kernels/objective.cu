// Combining the K samples of each data point (DESIGN.md section 1):
//   K-sample ELBO: loss_i = (1/K) sum_k -log p(x|z_k) + beta KL_i;
//   IWAE: loss_i = -log (1/K) sum_k w_k, log w_k = log p(x|z_k) + log p(z_k)
//         - log q(z_k|x), each gradient weighted by the normalized w_k;
//   estimators: log (1/K) sum_k p(x|z_k) (prior) or
//               log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x) (importance),
//   all with a stable log-sum-exp. One thread per data point, the samples in
//   order, as the CPU backend does.
#include <cmath>

#include "launch.cuh"
#include "model_math.h"
#include "objective.cuh"

namespace vae::cuda {
namespace {

__global__ void combine_samples_kernel(int objective, int64_t n, int64_t samples, double beta,
                                       const float* __restrict__ nll,
                                       const float* __restrict__ kl,
                                       const float* __restrict__ kl_sample,
                                       float* __restrict__ weight,
                                       float* __restrict__ row_loss) {
  const int64_t i = global_index();
  if (i < n) {
    row_loss[i] = combine_samples(objective, n, samples, i, beta, nll, kl, kl_sample, weight);
  }
}

// log w = -nll (prior) or -nll - kl_sample (importance); top and sum hold the
// running max and sum_k exp(log w_k - max), rescaled when the max moves.
__global__ void accumulate_log_weights_kernel(int estimator, int64_t n, int64_t samples,
                                              const float* __restrict__ nll,
                                              const float* __restrict__ kl_sample,
                                              float* __restrict__ top, float* __restrict__ sum) {
  const int64_t i = global_index();
  if (i >= n) return;
  float t = top[i];
  float s = sum[i];
  for (int64_t k = 0; k < samples; ++k) {
    const int64_t r = k * n + i;
    log_sum_exp_push(log_weight(estimator, nll[r], kl_sample[r]), &t, &s);
  }
  top[i] = t;
  sum[i] = s;
}

__global__ void finish_log_mean_exp_kernel(int64_t n, int64_t samples,
                                           const float* __restrict__ top,
                                           const float* __restrict__ sum,
                                           float* __restrict__ out) {
  const int64_t i = global_index();
  if (i < n) out[i] = top[i] + std::log(sum[i]) - std::log(static_cast<float>(samples));
}

__global__ void elbo_terms_kernel(int64_t n, int64_t samples, const float* __restrict__ nll,
                                  const float* __restrict__ kl,
                                  float* __restrict__ reconstruction,
                                  float* __restrict__ elbo) {
  const int64_t i = global_index();
  if (i >= n) return;
  float total = 0.0f;
  for (int64_t k = 0; k < samples; ++k) total += nll[k * n + i];
  const float rec = -total / static_cast<float>(samples);
  reconstruction[i] = rec;
  elbo[i] = rec - kl[i];
}

}  // namespace

cudaError_t launch_combine_samples(int objective, int64_t n, int64_t samples, double beta,
                                   const float* nll, const float* kl, const float* kl_sample,
                                   float* weight, float* row_loss, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  combine_samples_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
      objective, n, samples, beta, nll, kl, kl_sample, weight, row_loss);
  return cudaGetLastError();
}

cudaError_t launch_accumulate_log_weights(int estimator, int64_t n, int64_t samples,
                                          const float* nll, const float* kl_sample, float* top,
                                          float* sum, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  accumulate_log_weights_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
      estimator, n, samples, nll, kl_sample, top, sum);
  return cudaGetLastError();
}

cudaError_t launch_finish_log_mean_exp(int64_t n, int64_t samples, const float* top,
                                       const float* sum, float* out, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  finish_log_mean_exp_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, samples, top, sum, out);
  return cudaGetLastError();
}

cudaError_t launch_elbo_terms(int64_t n, int64_t samples, const float* nll, const float* kl,
                              float* reconstruction, float* elbo, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  elbo_terms_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, samples, nll, kl, reconstruction,
                                                            elbo);
  return cudaGetLastError();
}

}  // namespace vae::cuda
