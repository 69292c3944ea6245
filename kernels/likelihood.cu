// The decoder's likelihood (DESIGN.md section 1):
//   Bernoulli with logits l: log p(x|z) = sum_i x_i l_i - softplus(l_i),
//                            d(-log p)/dl = sigmoid(l) - x;
//   Gaussian with mean m and log variance v:
//     -log p = 1/2 sum_i (x_i - m_i)^2 e^(-v_i) + v_i + log 2 pi,
//     d(-log p)/dm = (m - x) e^(-v), d(-log p)/dv = 1/2 (1 - (x - m)^2 e^(-v)).
// The element math is Likelihood (src/model_math.h) over kernels/element_math.h.
#include "launch.cuh"
#include "likelihood.cuh"

namespace vae::cuda {
namespace {

// One block per decoder row: each thread sums dimensions tid, tid + 256, ...
// and block_sum adds the partial sums in a fixed order. With grad, each
// element's grad_scale * d nll / d out is written in the same pass (one
// exponential for both in the Bernoulli case).
__global__ void likelihood_forward_kernel(Likelihood lik, const float* __restrict__ learned,
                                          const float* __restrict__ out,
                                          const float* __restrict__ x, int n, int dim,
                                          float* __restrict__ nll, float* __restrict__ grad,
                                          float grad_scale) {
  const int r = static_cast<int>(blockIdx.x);
  const float* o = out + r * dim;
  const float* xr = x + (r % n) * dim;
  float sum = 0.0f;
  if (grad == nullptr) {
    for (int d = static_cast<int>(threadIdx.x); d < dim; d += kThreads) {
      sum += lik.nll(xr[d], o[d], lik.log_variance(learned, d));
    }
  } else {
    float* g = grad + r * dim;
    for (int d = static_cast<int>(threadIdx.x); d < dim; d += kThreads) {
      float gd;
      sum += lik.nll_and_grad(xr[d], o[d], lik.log_variance(learned, d), &gd);
      g[d] = gd * grad_scale;
    }
  }
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) nll[r] = sum;
}

// dout[r, d] *= weight[r] / mean_rows: one thread per element. mean_rows
// comes as a float (the batch of many ranks may pass int's range), the
// value the CPU backend divides by.
__global__ void scale_rows_kernel(const float* __restrict__ weight, float mean_rows, int dim,
                                  int count, float* __restrict__ dout) {
  const uint32_t e = global_index();
  if (e >= static_cast<uint32_t>(count)) return;
  dout[e] *= weight[static_cast<int>(e) / dim] / mean_rows;
}

// weight[r] / mean_rows * d nll_r / d v_d, the summand of the log-variance
// gradient of dimension d, for launch_column_reduction.
struct LogVarianceGradient {
  Likelihood lik;
  const float* learned;
  const float* out;
  const float* x;
  const float* weight;
  int n;
  float mean_rows;
  int dim;
  __device__ float operator()(int r, int d) const {
    const float scale = weight[r] / mean_rows;
    return scale * gaussian_nll_grad_logvar(x[(r % n) * dim + d], out[r * dim + d],
                                            lik.log_variance(learned, d));
  }
};

__global__ void output_mean_kernel(Likelihood lik, float* __restrict__ out, int count) {
  const uint32_t e = global_index();
  if (e < static_cast<uint32_t>(count)) out[e] = lik.mean(out[e]);
}

}  // namespace

cudaError_t launch_likelihood_forward(const Likelihood& lik, const float* learned_log_variance,
                                      const float* out, const float* x, int64_t rows, int64_t n,
                                      int64_t dim, float* nll, float* grad, float grad_scale,
                                      cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  return launch("likelihood_forward", likelihood_forward_kernel, static_cast<unsigned int>(rows),
                kThreads, stream, lik, learned_log_variance, out, x, static_cast<int>(n),
                static_cast<int>(dim), nll, grad, grad_scale);
}

cudaError_t launch_likelihood_backward(const Likelihood& lik, const float* learned_log_variance,
                                       const float* out, const float* x, const float* weight,
                                       int64_t rows, int64_t n, int64_t mean_rows, int64_t dim,
                                       bool scale_rows, float* dout, float* partial,
                                       float* log_variance_sums, int sm_count,
                                       cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  if (scale_rows) {
    const int64_t count = rows * dim;
    const cudaError_t launched =
        launch("scale_rows", scale_rows_kernel, blocks_for(count), kThreads, stream, weight,
               static_cast<float>(mean_rows), static_cast<int>(dim), static_cast<int>(count), dout);
    if (launched != cudaSuccess) return launched;
  }
  if (log_variance_sums == nullptr) return cudaSuccess;
  const LogVarianceGradient value{lik,
                                  learned_log_variance,
                                  out,
                                  x,
                                  weight,
                                  static_cast<int>(n),
                                  static_cast<float>(mean_rows),
                                  static_cast<int>(dim)};
  return launch_column_reduction(value, rows, dim, partial, log_variance_sums, sm_count, stream);
}

cudaError_t launch_output_mean(const Likelihood& lik, float* out, int64_t count,
                               cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  return launch("output_mean", output_mean_kernel, blocks_for(count), kThreads, stream, lik, out,
                static_cast<int>(count));
}

}  // namespace vae::cuda
