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
// element's d nll / d out is written in the same pass (one exponential for
// both in the Bernoulli case).
__global__ void likelihood_forward_kernel(Likelihood lik, const float* __restrict__ learned,
                                          const float* __restrict__ out,
                                          const float* __restrict__ x, int64_t n, int64_t dim,
                                          float* __restrict__ nll, float* __restrict__ grad) {
  const int64_t r = blockIdx.x;
  const float* o = out + r * dim;
  const float* xr = x + (r % n) * dim;
  float sum = 0.0f;
  if (grad == nullptr) {
    for (int64_t d = threadIdx.x; d < dim; d += kThreads) {
      sum += lik.nll(xr[d], o[d], lik.log_variance(learned, d));
    }
  } else {
    float* g = grad + r * dim;
    for (int64_t d = threadIdx.x; d < dim; d += kThreads) {
      sum += lik.nll_and_grad(xr[d], o[d], lik.log_variance(learned, d), &g[d]);
    }
  }
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) nll[r] = sum;
}

// Blocks of kColumnTile dimensions x kRowGroups row groups (launch.cuh): each
// thread scales the gradient of its rows of one dimension (written by the
// forward kernel) by weight / n and, when asked, sums that dimension's
// log-variance gradient in row order; thread (d, 0) adds the group sums in
// group order.
__global__ void likelihood_backward_kernel(Likelihood lik, const float* __restrict__ learned,
                                           const float* __restrict__ out,
                                           const float* __restrict__ x,
                                           const float* __restrict__ weight, int64_t rows,
                                           int64_t n, int64_t dim, float* __restrict__ dout,
                                           float* __restrict__ log_variance_sums) {
  __shared__ float partial[kRowGroups][kColumnTile];
  const int64_t d = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  float sum = 0.0f;
  if (d < dim) {
    const float v = lik.log_variance(learned, d);
    for (int64_t r = threadIdx.y; r < rows; r += kRowGroups) {
      const float scale = weight[r] / static_cast<float>(n);
      const float xv = x[(r % n) * dim + d];
      const float ov = out[r * dim + d];
      dout[r * dim + d] *= scale;
      if (log_variance_sums != nullptr) sum += scale * gaussian_nll_grad_logvar(xv, ov, v);
    }
  }
  if (log_variance_sums == nullptr) return;  // the same for the whole block
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && d < dim) {
    float total = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) total += partial[g][threadIdx.x];
    log_variance_sums[d] = total;
  }
}

__global__ void output_mean_kernel(Likelihood lik, float* __restrict__ out, int64_t count) {
  const int64_t e = global_index();
  if (e < count) out[e] = lik.mean(out[e]);
}

}  // namespace

cudaError_t launch_likelihood_forward(const Likelihood& lik, const float* learned_log_variance,
                                      const float* out, const float* x, int64_t rows, int64_t n,
                                      int64_t dim, float* nll, float* grad, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  likelihood_forward_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      lik, learned_log_variance, out, x, n, dim, nll, grad);
  return cudaGetLastError();
}

cudaError_t launch_likelihood_backward(const Likelihood& lik, const float* learned_log_variance,
                                       const float* out, const float* x, const float* weight,
                                       int64_t rows, int64_t n, int64_t dim, float* dout,
                                       float* log_variance_sums, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return cudaSuccess;
  const dim3 block(kColumnTile, kRowGroups);
  likelihood_backward_kernel<<<blocks_for(dim, kColumnTile), block, 0, stream>>>(
      lik, learned_log_variance, out, x, weight, rows, n, dim, dout, log_variance_sums);
  return cudaGetLastError();
}

cudaError_t launch_output_mean(const Likelihood& lik, float* out, int64_t count,
                               cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  output_mean_kernel<<<blocks_for(count), kThreads, 0, stream>>>(lik, out, count);
  return cudaGetLastError();
}

}  // namespace vae::cuda
