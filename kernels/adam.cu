// Adam over the one flat parameter buffer (DESIGN.md section 2), as
// PyTorch's torch.optim.Adam (vae::adam_update, kernels/element_math.h):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
#include "adam.cuh"
#include "launch.cuh"

namespace vae::cuda {
namespace {

__global__ void adam_kernel(float* __restrict__ p, const float* __restrict__ g,
                            float* __restrict__ m, float* __restrict__ v, int64_t begin,
                            int64_t end, AdamStep step) {
  const int64_t e = begin + global_index();
  if (e < end) adam_update(&p[e], g[e], &m[e], &v[e], step);
}

}  // namespace

cudaError_t launch_adam(float* p, const float* g, float* m, float* v, size_t begin, size_t end,
                        const AdamStep& step, cudaStream_t stream) {
  if (end <= begin) return cudaSuccess;
  const auto first = static_cast<int64_t>(begin);
  const auto last = static_cast<int64_t>(end);
  adam_kernel<<<blocks_for(last - first), kThreads, 0, stream>>>(p, g, m, v, first, last, step);
  return cudaGetLastError();
}

}  // namespace vae::cuda
