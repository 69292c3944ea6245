// The decoder's likelihood (DESIGN.md section 1):
//   Bernoulli with logits l: log p(x|z) = sum_i x_i l_i - softplus(l_i),
//                            d(-log p)/dl = sigmoid(l) - x;
//   Gaussian with mean m and log variance v:
//     -log p = 1/2 sum_i (x_i - m_i)^2 e^(-v_i) + v_i + log 2 pi,
//     d(-log p)/dm = (m - x) e^(-v), d(-log p)/dv = 1/2 (1 - (x - m)^2 e^(-v));
//     with the decoder's variance (rows 2 dim wide: m, then o), v = b +
//     softplus(o - b) for the bound b, and d(-log p)/do = d(-log p)/dv sigmoid(o - b).
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
  const int width = static_cast<int>(lik.width(dim));
  const float* o = out + r * width;
  const float* xr = x + (r % n) * dim;
  float sum = 0.0f;
  if (grad == nullptr) {
    for (int d = static_cast<int>(threadIdx.x); d < dim; d += kThreads) {
      sum += lik.row_nll(learned, o, xr[d], d, dim);
    }
  } else {
    float* g = grad + r * width;
    for (int d = static_cast<int>(threadIdx.x); d < dim; d += kThreads) {
      sum += lik.row_nll_and_grad(learned, o, xr[d], d, dim, grad_scale, g);
    }
  }
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) nll[r] = sum;
}

// dout[r, d] *= weight[r] / mean_rows (rows `width` wide): one thread per element. mean_rows
// comes as a float (the batch of many ranks may pass int's range), the
// value the CPU backend divides by.
__global__ void scale_rows_kernel(const float* __restrict__ weight, float mean_rows, int width,
                                  int count, float* __restrict__ dout) {
  const uint32_t e = global_index();
  if (e >= static_cast<uint32_t>(count)) return;
  dout[e] *= weight[static_cast<int>(e) / width] / mean_rows;
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

// mean[r, d] = lik.mean(out[r, d]) for out's rows of lik.width(dim): one
// thread per element of mean.
__global__ void output_mean_kernel(Likelihood lik, const float* __restrict__ out, int dim,
                                   int count, float* __restrict__ mean) {
  const uint32_t e = global_index();
  if (e >= static_cast<uint32_t>(count)) return;
  const int r = static_cast<int>(e) / dim, d = static_cast<int>(e) % dim;
  mean[e] = lik.mean(out[r * static_cast<int>(lik.width(dim)) + d]);
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
    const int64_t width = lik.width(dim);
    const int64_t count = rows * width;
    const cudaError_t launched =
        launch("scale_rows", scale_rows_kernel, blocks_for(count), kThreads, stream, weight,
               static_cast<float>(mean_rows), static_cast<int>(width), static_cast<int>(count),
               dout);
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

cudaError_t launch_output_mean(const Likelihood& lik, const float* out, int64_t rows,
                               int64_t dim, float* mean, cudaStream_t stream) {
  const int64_t count = rows * dim;
  if (count <= 0) return cudaSuccess;
  return launch("output_mean", output_mean_kernel, blocks_for(count), kThreads, stream, lik, out,
                static_cast<int>(dim), static_cast<int>(count), mean);
}

}  // namespace vae::cuda
