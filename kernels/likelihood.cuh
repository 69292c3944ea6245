// Launchers of the decoder-likelihood kernels (kernels/likelihood.cu). Each
// enqueues its kernel on `stream` and returns the launch's error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "model_math.h"

namespace vae::cuda {

// nll[r] = -log p(x_{r mod n} | out_r) for `rows` decoder rows of `dim`;
// when grad is not null also grad[r, d] = grad_scale d nll_r / d out[r, d].
cudaError_t launch_likelihood_forward(const Likelihood& lik, const float* learned_log_variance,
                                      const float* out, const float* x, int64_t rows, int64_t n,
                                      int64_t dim, float* nll, float* grad, float grad_scale,
                                      cudaStream_t stream);

// When scale_rows, dout[r, d] (d nll_r / d out[r, d] from the forward
// kernel) *= weight[r] / B (B = mean_rows, the rows the loss is a mean
// over). When log_variance_sums is not null, also log_variance_sums[d] =
// sum_r weight[r] / B * d nll_r / d v_d (the per-dimension log-variance
// gradient, in the fixed order of launch_column_reduction; partial is its
// scratch of kMaxColumnChunks * dim).
cudaError_t launch_likelihood_backward(const Likelihood& lik, const float* learned_log_variance,
                                       const float* out, const float* x, const float* weight,
                                       int64_t rows, int64_t n, int64_t mean_rows, int64_t dim,
                                       bool scale_rows, float* dout, float* partial,
                                       float* log_variance_sums, int sm_count,
                                       cudaStream_t stream);

// mean[r, d] = the likelihood's mean (Bernoulli: sigmoid of the logit) of
// out[r, d], for rows rows of dim dimensions (out's rows lik.width(dim) wide).
cudaError_t launch_output_mean(const Likelihood& lik, const float* out, int64_t rows,
                               int64_t dim, float* mean, cudaStream_t stream);

}  // namespace vae::cuda
