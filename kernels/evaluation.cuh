// Launchers of the evaluation kernels (kernels/evaluation.cu; the chunks and
// pairs of src/evaluation.h). Each enqueues its kernel on `stream` and
// returns the launch's error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "model_math.h"

namespace vae::cuda {

// Per pair p of chunk c (call pair g = c.first_pair + p, data row g / K):
// its noise (element g Z + j of the array `key`), z [pairs, Z] and eps,
// and kl_sample[p] = log q(z|x) - log p(z) (zero for the prior estimator),
// from the [mu | logvar] of the staged rows (row g / K - c.first_row).
cudaError_t launch_eval_latent(EvalMode mode, const EvalChunk& c, const NoiseKey& key,
                               const float* mu_logvar, int64_t latent, float* eps, float* z,
                               float* kl_sample, cudaStream_t stream);

// values[p] = eval_value(mode, -log p(x | out_p), kl_sample[p]) for the
// chunk's pairs, out [pairs, dim] the decoder's outputs, x the staged rows.
cudaError_t launch_eval_values(const Likelihood& lik, const float* learned_log_variance,
                               EvalMode mode, const EvalChunk& c, const float* out,
                               const float* x, int64_t dim, const float* kl_sample,
                               float* values, cudaStream_t stream);

// accumulate_eval_row for each of the chunk's rows, one thread each; then
// the cut last row's accumulator from carry + kEvalCarry into carry. For the
// likelihood estimators out0 = log p^, out1 = its standard error, out2 = the
// ESS, from two running log-sum-exps (of log w and of 2 log w) in the same
// pass: ESS = sum^2 / sum2, SE = sqrt((K / ESS - 1) / (K - 1)) (model_math.h,
// weight_statistics). kl_sample: a learned prior's per-pair KL, whose mean
// is the ELBO's KL (null: the analytic KL from mu_logvar).
cudaError_t launch_eval_accumulate(EvalMode mode, const EvalChunk& c, const float* values,
                                   const float* kl_sample, const float* mu_logvar,
                                   int64_t latent, float* carry,
                                   float* out0, float* out1, float* out2, cudaStream_t stream);

}  // namespace vae::cuda
