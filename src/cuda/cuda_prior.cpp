// CudaOps's primitives of a learned mixture prior (src/mixture_prior.h): one
// kernel each (kernels/prior.cu), every launch's error checked.
#include "cuda/cuda_check.h"
#include "cuda/cuda_ops.h"
#include "prior.cuh"

namespace vae {

using cuda_detail::check_cuda;

void CudaOps::prior_forward(const MixturePrior<float>& prior, const float* mu_logvar,
                            const float* eps, const float* z, int64_t n, int64_t rows,
                            float* kl_sample, float* resp, float* prior_grad) const {
  check_cuda(cuda::launch_prior_forward(prior, mu_logvar, eps, z, n, rows, kl_sample, resp,
                                        prior_grad, stream()),
             "prior_forward kernel");
}

void CudaOps::prior_backward(const MixturePrior<float>& prior, int64_t rows, const float* z,
                             const float* resp, const float* weight, int64_t mean_rows,
                             double beta, float* d_means, float* d_log_variances,
                             float* d_logits) const {
  check_cuda(cuda::launch_prior_backward(prior, rows, z, resp, weight, mean_rows, beta,
                                         live_for_beta(beta), d_means, d_log_variances, d_logits,
                                         stream()),
             "prior_backward kernel");
}

void CudaOps::prior_sample(const MixturePrior<float>& prior, const NoiseKey& components,
                           int64_t rows, float* z) const {
  check_cuda(cuda::launch_prior_sample(prior, components, rows, z, stream()),
             "prior_sample kernel");
}

}  // namespace vae
