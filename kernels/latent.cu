// The latent layer (DESIGN.md section 1):
//   eps ~ N(0, I) (Philox), z = mu + sigma (.) eps, sigma = exp(l / 2);
//   analytic KL(q || p) = 1/2 sum_j mu_j^2 + e^(l_j) - l_j - 1;
//   sampled KL = log q(z|x) - log p(z) = sum_j 1/2 (z_j^2 - eps_j^2 - l_j);
//   backward, given g = dloss/dz: dmu = g + beta mu,
//                                dl = 1/2 g eps sigma + 1/2 beta (e^l - 1),
//   or with the sampled KL (IWAE, a learned prior) its derivatives instead.
// The element math is the shared code of kernels/element_math.h,
// kernels/philox.h and src/model_math.h.
#include "latent.cuh"
#include "launch.cuh"
#include "model_math.h"

namespace vae::cuda {
namespace {

// One warp per decoder row r = k n + i, one lane per latent j (j = lane,
// lane + 32, ...): each lane draws its eps from its own Philox block (the
// draw of element p Z + j for the row's place p in the batch, the same
// number the CPU draws), forms z and its terms of the two KL sums, and
// warp_sum adds the lanes' terms in a fixed order. The noise counter is
// read from the step state when given, so a replayed graph draws new noise
// at each step.
__global__ void latent_forward_kernel(const float* __restrict__ mu_logvar, int n, int rows,
                                      int latent, NoiseSource noise, float* __restrict__ eps,
                                      float* __restrict__ z, float* __restrict__ kl,
                                      float* __restrict__ kl_sample) {
  const int r = static_cast<int>(blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x & 31);
  if (r >= rows) return;  // the same for the whole warp
  NoiseKey key = noise.key;
  if (noise.counter != nullptr) key.counter = static_cast<uint64_t>(*noise.counter);
  const auto first = static_cast<uint64_t>(noise_row(noise, r, n) * latent);
  const float* mu = mu_logvar + (r % n) * 2 * latent;
  const float* lv = mu + latent;
  float sampled = 0.0f, analytic = 0.0f;
  for (int j = lane; j < latent; j += 32) {
    const int e = r * latent + j;
    if (!noise.injected) eps[e] = standard_normal(key, first + static_cast<uint64_t>(j));
    const float zj = reparameterize(mu[j], lv[j], eps[e]);
    z[e] = zj;
    sampled += sampled_kl_term(zj, eps[e], lv[j]);
    if (r < n) analytic += kl_term(mu[j], lv[j]);
  }
  sampled = warp_sum(sampled);
  analytic = warp_sum(analytic);
  if (lane == 0) {
    kl_sample[r] = sampled;
    if (r < n) kl[r] = analytic;
  }
}

// One thread per (data point i, latent j): the K samples in order.
__global__ void latent_backward_kernel(int objective, int64_t n, int64_t mean_rows,
                                       int64_t samples, int64_t latent, double beta,
                                       const StepSettings* __restrict__ live,
                                       const float* __restrict__ mu_logvar,
                                       const float* __restrict__ eps,
                                       const float* __restrict__ z,
                                       const float* __restrict__ prior_grad,
                                       const float* __restrict__ dz,
                                       const float* __restrict__ weight,
                                       float* __restrict__ d_mu_logvar) {
  const uint32_t t = global_index();
  if (t >= static_cast<uint32_t>(n * latent)) return;
  const int64_t i = static_cast<int>(t) / static_cast<int>(latent);
  const int64_t j = static_cast<int>(t) % static_cast<int>(latent);
  const double b = live != nullptr ? live->beta : beta;
  latent_gradient(objective, n, mean_rows, samples, latent, i, j, b, mu_logvar, eps, z,
                  prior_grad, dz, weight, &d_mu_logvar[i * 2 * latent + j],
                  &d_mu_logvar[i * 2 * latent + latent + j]);
}

__global__ void standard_normal_kernel(NoiseKey key, int count, float* __restrict__ out) {
  const uint32_t e = global_index();
  if (e < static_cast<uint32_t>(count)) out[e] = standard_normal(key, e);
}

}  // namespace

cudaError_t launch_latent_forward(const float* mu_logvar, int64_t n, int64_t samples,
                                  int64_t latent, const NoiseSource& noise, float* eps,
                                  float* z, float* kl, float* kl_sample, cudaStream_t stream) {
  const int64_t rows = n * samples;
  if (rows <= 0) return cudaSuccess;
  constexpr int kRowsPerBlock = kThreads / 32;
  return launch("latent_forward", latent_forward_kernel, blocks_for(rows, kRowsPerBlock), kThreads,
                stream, mu_logvar, static_cast<int>(n), static_cast<int>(rows),
                static_cast<int>(latent), noise, eps, z, kl, kl_sample);
}

cudaError_t launch_latent_backward(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                                   int64_t latent, double beta, const StepSettings* live,
                                   const float* mu_logvar,
                                   const float* eps, const float* z, const float* prior_grad,
                                   const float* dz, const float* weight, float* d_mu_logvar,
                                   cudaStream_t stream) {
  const int64_t count = n * latent;
  if (count <= 0) return cudaSuccess;
  return launch("latent_backward", latent_backward_kernel, blocks_for(count), kThreads, stream,
                objective, n, mean_rows, samples, latent, beta, live, mu_logvar, eps, z,
                prior_grad, dz, weight, d_mu_logvar);
}

cudaError_t launch_standard_normal(const NoiseKey& key, int64_t count, float* out,
                                   cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  return launch("standard_normal", standard_normal_kernel, blocks_for(count), kThreads, stream, key,
                static_cast<int>(count), out);
}

}  // namespace vae::cuda
