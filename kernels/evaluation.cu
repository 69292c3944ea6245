// The evaluation calls' kernels (src/evaluation.h): per pair of a chunk its
// latent and its value, per data row its accumulator over the samples. The
// element math is the shared code of src/model_math.h, kernels/philox.h and
// kernels/element_math.h, which the CPU backend runs too.
#include "evaluation.cuh"
#include "launch.cuh"

namespace vae::cuda {
namespace {

// One warp per pair, one lane per latent j (j = lane, lane + 32, ...):
// each lane draws its own element of the noise, and warp_sum adds the
// lanes' terms of log q(z|x) - log p(z) in a fixed order.
__global__ void eval_latent_kernel(EvalMode mode, EvalChunk c, NoiseKey key,
                                   const float* __restrict__ mu_logvar, int latent,
                                   float* __restrict__ eps, float* __restrict__ z,
                                   float* __restrict__ kl_sample) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x & 31);
  if (p >= c.pairs) return;  // the same for the whole warp
  const int64_t g = c.first_pair + p;
  const float* row = mu_logvar + (g / c.k - c.first_row) * 2 * latent;
  float sum = 0.0f;
  for (int j = lane; j < latent; j += 32) {
    const float e = standard_normal(key, static_cast<uint64_t>(g * latent + j));
    sum += eval_latent(mode, e, latent, j, row, &eps[p * latent + j], &z[p * latent + j]);
  }
  sum = warp_sum(sum);
  if (lane == 0) kl_sample[p] = sum;
}

// One block per pair: each thread sums dimensions tid, tid + 256, ... and
// block_sum adds the partial sums in a fixed order.
__global__ void eval_values_kernel(Likelihood lik, const float* __restrict__ learned,
                                   EvalMode mode, EvalChunk c, const float* __restrict__ out,
                                   const float* __restrict__ x, int dim,
                                   const float* __restrict__ kl_sample,
                                   float* __restrict__ values) {
  const int64_t p = blockIdx.x;
  const float* o = out + p * lik.width(dim);
  const float* xr = x + ((c.first_pair + p) / c.k - c.first_row) * dim;
  float sum = 0.0f;
  for (int d = static_cast<int>(threadIdx.x); d < dim; d += kThreads) {
    sum += lik.row_nll(learned, o, xr[d], d, dim);
  }
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) values[p] = eval_value(mode, sum, kl_sample[p]);
}

// One thread per chunk row, its samples in order, as the CPU backend does.
__global__ void eval_accumulate_kernel(EvalMode mode, EvalChunk c,
                                       const float* __restrict__ values,
                                       const float* __restrict__ kl_sample,
                                       const float* __restrict__ mu_logvar, int latent,
                                       float* carry, float* __restrict__ out0,
                                       float* __restrict__ out1, float* __restrict__ out2) {
  const int64_t i = global_index64();
  if (i >= c.pair_rows()) return;
  const float* row = mu_logvar + (c.first_pair_row + i - c.first_row) * 2 * latent;
  accumulate_eval_row(mode, c, i, values, kl_sample, row, static_cast<int64_t>(latent), carry,
                      carry + kEvalCarry, out0, out1, out2);
}

__global__ void carry_over_kernel(float* carry) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < kEvalCarry) carry[i] = carry[kEvalCarry + i];
}

}  // namespace

cudaError_t launch_eval_latent(EvalMode mode, const EvalChunk& c, const NoiseKey& key,
                               const float* mu_logvar, int64_t latent, float* eps, float* z,
                               float* kl_sample, cudaStream_t stream) {
  if (c.pairs <= 0) return cudaSuccess;
  constexpr int kPairsPerBlock = kThreads / 32;
  return launch("eval_latent", eval_latent_kernel, blocks_for(c.pairs, kPairsPerBlock), kThreads,
                stream, mode, c, key, mu_logvar, static_cast<int>(latent), eps, z, kl_sample);
}

cudaError_t launch_eval_values(const Likelihood& lik, const float* learned_log_variance,
                               EvalMode mode, const EvalChunk& c, const float* out,
                               const float* x, int64_t dim, const float* kl_sample,
                               float* values, cudaStream_t stream) {
  if (c.pairs <= 0) return cudaSuccess;
  return launch("eval_values", eval_values_kernel, static_cast<unsigned int>(c.pairs), kThreads,
                stream, lik, learned_log_variance, mode, c, out, x, static_cast<int>(dim),
                kl_sample, values);
}

cudaError_t launch_eval_accumulate(EvalMode mode, const EvalChunk& c, const float* values,
                                   const float* kl_sample, const float* mu_logvar,
                                   int64_t latent, float* carry,
                                   float* out0, float* out1, float* out2, cudaStream_t stream) {
  const int64_t rows = c.pair_rows();
  if (rows <= 0) return cudaSuccess;
  cudaError_t launched =
      launch("eval_accumulate", eval_accumulate_kernel, blocks_for(rows), kThreads, stream, mode, c,
             values, kl_sample, mu_logvar, static_cast<int>(latent), carry, out0, out1, out2);
  if (launched != cudaSuccess || !c.continues_last()) return launched;
  return launch("carry_over", carry_over_kernel, 1, 32, stream, carry);
}

}  // namespace vae::cuda
