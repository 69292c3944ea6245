// The latent layer (DESIGN.md section 1):
//   eps ~ N(0, I) (Philox), z = mu + sigma (.) eps, sigma = exp(l / 2);
//   analytic KL(q || p) = 1/2 sum_j mu_j^2 + e^(l_j) - l_j - 1;
//   sampled KL = log q(z|x) - log p(z) = sum_j 1/2 (z_j^2 - eps_j^2 - l_j);
//   backward, given g = dloss/dz: dmu = g + beta mu,
//                                dl = 1/2 g eps sigma + 1/2 beta (e^l - 1).
// The element math is the shared code of kernels/element_math.h,
// kernels/philox.h and src/model_math.h.
#include "latent.cuh"
#include "launch.cuh"
#include "model_math.h"

namespace vae::cuda {
namespace {

// One thread per decoder row r = k n + i: the Z latents of the row in order,
// so both KL sums are formed in the CPU backend's order.
__global__ void latent_forward_kernel(const float* __restrict__ mu_logvar, int64_t n,
                                      int64_t rows, int64_t latent, bool draw, NoiseKey key,
                                      float* __restrict__ eps, float* __restrict__ z,
                                      float* __restrict__ kl, float* __restrict__ kl_sample) {
  const int64_t r = global_index();
  if (r >= rows) return;
  const float* mu = mu_logvar + (r % n) * 2 * latent;
  const float* lv = mu + latent;
  float sampled = 0.0f;
  for (int64_t j = 0; j < latent; ++j) {
    const int64_t e = r * latent + j;
    if (draw) eps[e] = standard_normal(key, static_cast<uint64_t>(e));
    const float zj = reparameterize(mu[j], lv[j], eps[e]);
    z[e] = zj;
    sampled += sampled_kl_term(zj, eps[e], lv[j]);
  }
  kl_sample[r] = sampled;
  if (r < n) {
    float analytic = 0.0f;
    for (int64_t j = 0; j < latent; ++j) analytic += kl_term(mu[j], lv[j]);
    kl[r] = analytic;
  }
}

// One thread per (data point i, latent j): the K samples in order.
__global__ void latent_backward_kernel(int objective, int64_t n, int64_t samples, int64_t latent,
                                       double beta, const float* __restrict__ mu_logvar,
                                       const float* __restrict__ eps,
                                       const float* __restrict__ z,
                                       const float* __restrict__ dz,
                                       const float* __restrict__ weight,
                                       float* __restrict__ d_mu_logvar) {
  const int64_t t = global_index();
  if (t >= n * latent) return;
  const int64_t i = t / latent;
  const int64_t j = t % latent;
  latent_gradient(objective, n, samples, latent, i, j, beta, mu_logvar, eps, z, dz, weight,
                  &d_mu_logvar[i * 2 * latent + j], &d_mu_logvar[i * 2 * latent + latent + j]);
}

__global__ void standard_normal_kernel(NoiseKey key, int64_t count, float* __restrict__ out) {
  const int64_t e = global_index();
  if (e < count) out[e] = standard_normal(key, static_cast<uint64_t>(e));
}

}  // namespace

cudaError_t launch_latent_forward(const float* mu_logvar, int64_t n, int64_t samples,
                                  int64_t latent, bool draw, const NoiseKey& key, float* eps,
                                  float* z, float* kl, float* kl_sample, cudaStream_t stream) {
  const int64_t rows = n * samples;
  if (rows <= 0) return cudaSuccess;
  latent_forward_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(mu_logvar, n, rows, latent,
                                                                   draw, key, eps, z, kl,
                                                                   kl_sample);
  return cudaGetLastError();
}

cudaError_t launch_latent_backward(int objective, int64_t n, int64_t samples, int64_t latent,
                                   double beta, const float* mu_logvar, const float* eps,
                                   const float* z, const float* dz, const float* weight,
                                   float* d_mu_logvar, cudaStream_t stream) {
  const int64_t count = n * latent;
  if (count <= 0) return cudaSuccess;
  latent_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(
      objective, n, samples, latent, beta, mu_logvar, eps, z, dz, weight, d_mu_logvar);
  return cudaGetLastError();
}

cudaError_t launch_standard_normal(const NoiseKey& key, int64_t count, float* out,
                                   cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  standard_normal_kernel<<<blocks_for(count), kThreads, 0, stream>>>(key, count, out);
  return cudaGetLastError();
}

}  // namespace vae::cuda
