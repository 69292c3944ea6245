// The model's input gathered from a device dataset, bytes transformed on the
// way (DESIGN.md section 1, vae::transform_byte in kernels/byte_transform.h):
//   scale x = y / 255; dynamic binarization x ~ Bernoulli(y / 255);
//   uniform dequantization x = (y + u) / 256, u ~ U[0, 1) (Philox).
#include "bytes.cuh"
#include "launch.cuh"

namespace vae::cuda {
namespace {

// One thread per element of the [n, dim] output.
__global__ void gather_rows_kernel(GatherSource src, int64_t first, int64_t n, NoiseKey bytes,
                                   float* __restrict__ x) {
  const int64_t e = global_index();
  if (e >= n * src.dim) return;
  const int64_t i = e / src.dim;
  const int64_t d = e % src.dim;
  const int64_t row = src.order != nullptr ? src.order[first + i] : first + i;
  if (src.u8 == nullptr) {
    x[e] = src.floats[row * src.dim + d];
    return;
  }
  const float u = src.transform == ByteTransform::kScale
                      ? 0.0f
                      : standard_uniform(bytes, static_cast<uint64_t>(i * src.dim + d));
  x[e] = transform_byte<float>(src.u8[row * src.dim + d], u, src.transform);
}

}  // namespace

cudaError_t launch_gather_rows(const GatherSource& src, int64_t first, int64_t n,
                               const NoiseKey& bytes, float* x, cudaStream_t stream) {
  const int64_t count = n * src.dim;
  if (count <= 0) return cudaSuccess;
  gather_rows_kernel<<<blocks_for(count), kThreads, 0, stream>>>(src, first, n, bytes, x);
  return cudaGetLastError();
}

}  // namespace vae::cuda
