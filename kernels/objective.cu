// Combining the K samples of each data point (DESIGN.md section 1):
//   K-sample ELBO: loss_i = (1/K) sum_k -log p(x|z_k) + beta KL_i;
//   IWAE: loss_i = -log (1/K) sum_k w_k, log w_k = log p(x|z_k) + log p(z_k)
//         - log q(z_k|x), each gradient weighted by the normalized w_k,
//   with a stable log-sum-exp. One thread per data point, the samples in
//   order, as the CPU backend does. (The estimators' are in evaluation.cu.)
#include "launch.cuh"
#include "model_math.h"
#include "objective.cuh"

namespace vae::cuda {
namespace {

// The KL weight read when the kernel runs (a live option: see StepSettings).
__global__ void combine_samples_kernel(int objective, int64_t n, int64_t samples, double beta,
                                       const StepSettings* __restrict__ live,
                                       const float* __restrict__ nll,
                                       const float* __restrict__ kl,
                                       const float* __restrict__ kl_sample,
                                       float* __restrict__ weight,
                                       float* __restrict__ row_loss) {
  const int64_t i = global_index();
  if (i < n) {
    const double b = live != nullptr ? live->beta : beta;
    row_loss[i] = combine_samples(objective, n, samples, i, b, nll, kl, kl_sample, weight);
  }
}

}  // namespace

cudaError_t launch_combine_samples(int objective, int64_t n, int64_t samples, double beta,
                                   const StepSettings* live, const float* nll, const float* kl,
                                   const float* kl_sample, float* weight, float* row_loss,
                                   cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  return launch("combine_samples", combine_samples_kernel, blocks_for(n), kThreads, stream,
                objective, n, samples, beta, live, nll, kl, kl_sample, weight, row_loss);
}

}  // namespace vae::cuda
