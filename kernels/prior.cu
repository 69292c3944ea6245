// A learned mixture-of-Gaussians prior (src/mixture_prior.h):
//   log p(z) = logsumexp_k (log pi_k - 1/2 sum_j ((z_j - m_kj)^2 e^(-v_kj) + v_kj)),
//   kl_sample = -1/2 sum_j (eps_j^2 + l_j) - log p(z),
//   gamma_k = the responsibilities, -d log p / dz_j = sum_k gamma_k (z_j - m_kj) e^(-v_kj),
//   the parameters' gradients summed over the decoder rows in row order,
//   and draws: a component by a uniform draw, then m + sigma eps.
// One thread per row (or per parameter), each summing in the fixed order of
// the shared functions, so the numbers are those the CPU backend computes.
#include "launch.cuh"
#include "prior.cuh"

namespace vae::cuda {
namespace {

// One thread per decoder row r: its KL under the mixture, and for training
// its responsibilities and -d log p / dz.
__global__ void prior_forward_kernel(MixturePrior<float> prior, const float* __restrict__ mu_logvar,
                                     const float* __restrict__ eps, const float* __restrict__ z,
                                     int64_t n, int64_t rows, float* __restrict__ kl_sample,
                                     float* __restrict__ resp, float* __restrict__ prior_grad) {
  const int64_t r = global_index64();
  if (r >= rows) return;
  const int64_t Z = prior.latent;
  const float* zr = z + r * Z;
  float* rr = resp != nullptr ? resp + r * prior.components : nullptr;
  kl_sample[r] = mixture_sampled_kl(prior, eps + r * Z, mu_logvar + (r % n) * 2 * Z + Z, zr, rr);
  if (prior_grad == nullptr) return;
  for (int64_t j = 0; j < Z; ++j) prior_grad[r * Z + j] = prior.neg_log_density_grad(zr, rr, j);
}

// One thread per prior parameter e: d loss / d parameter, the rows in order.
__global__ void prior_backward_kernel(MixturePrior<float> prior, int64_t rows,
                                      const float* __restrict__ z, const float* __restrict__ resp,
                                      const float* __restrict__ weight, int64_t mean_rows,
                                      double beta, const StepSettings* __restrict__ live,
                                      float* __restrict__ d_means,
                                      float* __restrict__ d_log_variances,
                                      float* __restrict__ d_logits) {
  const int64_t e = global_index64();
  const int64_t KZ = prior.components * prior.latent;
  if (e >= 2 * KZ + prior.components) return;
  const double b = live != nullptr ? live->beta : beta;
  const float scale = static_cast<float>(b) / static_cast<float>(mean_rows);
  float* out = e < KZ       ? d_means + e
               : e < 2 * KZ ? d_log_variances + (e - KZ)
                            : d_logits + (e - 2 * KZ);
  *out = prior_parameter_gradient(prior, e, rows, z, resp, weight, scale);
}

// One thread per row: mixture_draw in place.
__global__ void prior_sample_kernel(MixturePrior<float> prior, NoiseKey components, int64_t rows,
                                    float* __restrict__ z) {
  const int64_t r = global_index64();
  if (r >= rows) return;
  float* zr = z + r * prior.latent;
  mixture_draw(prior, standard_uniform(components, static_cast<uint64_t>(r)), zr, zr);
}

// One thread per pair of an evaluation chunk: mixture_eval_pair.
__global__ void eval_prior_kernel(EvalMode mode, EvalChunk c, NoiseKey components,
                                  MixturePrior<float> prior, const float* __restrict__ mu_logvar,
                                  const float* __restrict__ eps, float* __restrict__ z,
                                  float* __restrict__ kl_sample) {
  const int64_t p = global_index64();
  if (p >= c.pairs) return;
  const int64_t g = c.first_pair + p;
  const int64_t Z = prior.latent;
  const float* row = mu_logvar + (g / c.k - c.first_row) * 2 * Z;
  const float u = standard_uniform(components, static_cast<uint64_t>(g));
  kl_sample[p] = mixture_eval_pair(mode, prior, u, row, eps + p * Z, z + p * Z);
}

}  // namespace

cudaError_t launch_prior_forward(const MixturePrior<float>& prior, const float* mu_logvar,
                                 const float* eps, const float* z, int64_t n, int64_t rows,
                                 float* kl_sample, float* resp, float* prior_grad,
                                 cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  return launch("prior_forward", prior_forward_kernel, blocks_for(rows), kThreads, stream, prior,
                mu_logvar, eps, z, n, rows, kl_sample, resp, prior_grad);
}

cudaError_t launch_prior_backward(const MixturePrior<float>& prior, int64_t rows, const float* z,
                                  const float* resp, const float* weight, int64_t mean_rows,
                                  double beta, const StepSettings* live, float* d_means,
                                  float* d_log_variances, float* d_logits, cudaStream_t stream) {
  const int64_t count = 2 * prior.components * prior.latent + prior.components;
  if (count <= 0) return cudaSuccess;
  return launch("prior_backward", prior_backward_kernel, blocks_for(count), kThreads, stream,
                prior, rows, z, resp, weight, mean_rows, beta, live, d_means, d_log_variances,
                d_logits);
}

cudaError_t launch_prior_sample(const MixturePrior<float>& prior, const NoiseKey& components,
                                int64_t rows, float* z, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  return launch("prior_sample", prior_sample_kernel, blocks_for(rows), kThreads, stream, prior,
                components, rows, z);
}

cudaError_t launch_eval_prior(EvalMode mode, const EvalChunk& c, const NoiseKey& key,
                              const MixturePrior<float>& prior, const float* mu_logvar,
                              const float* eps, float* z, float* kl_sample, cudaStream_t stream) {
  if (c.pairs <= 0) return cudaSuccess;
  return launch("eval_prior", eval_prior_kernel, blocks_for(c.pairs), kThreads, stream, mode, c,
                mixture_component_key(key), prior, mu_logvar, eps, z, kl_sample);
}

}  // namespace vae::cuda
