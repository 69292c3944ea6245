// The model's input gathered from a device dataset, bytes transformed on the
// way (DESIGN.md section 1, vae::transform_byte in kernels/byte_transform.h):
//   scale x = y / 255; dynamic binarization x ~ Bernoulli(y / 255);
//   uniform dequantization x = (y + u) / 256, u ~ U[0, 1) (Philox).
#include "bytes.cuh"
#include "launch.cuh"

namespace vae::cuda {
namespace {

// One thread per element of the [n, dim] output (n dim < 2^31: 32-bit index
// math; the dataset's own offsets are 64-bit). In an epoch the rows come
// from order[epoch->cursor + i] and the byte noise is keyed by the step
// count, both read from the step state when the kernel runs.
__global__ void gather_rows_kernel(GatherSource src, int64_t first, uint32_t count,
                                   NoiseKey bytes, const StepState* __restrict__ epoch,
                                   float* __restrict__ x) {
  const uint32_t e = global_index();
  if (e >= count) return;
  const uint32_t dim = static_cast<uint32_t>(src.dim);
  const uint32_t i = e / dim;
  const uint32_t d = e - i * dim;
  if (epoch != nullptr) {
    first += epoch->cursor;
    bytes.counter = static_cast<uint64_t>(epoch->steps);
  }
  const int64_t row = src.order != nullptr ? src.order[first + i] : first + i;
  const int64_t at = row * src.dim + d;
  if (src.u8 == nullptr) {
    x[e] = src.floats[at];
    return;
  }
  const float u = src.transform == ByteTransform::kScale ? 0.0f : standard_uniform(bytes, e);
  x[e] = transform_byte<float>(src.u8[at], u, src.transform);
}

}  // namespace

cudaError_t launch_gather_rows(const GatherSource& src, int64_t first, int64_t n,
                               const NoiseKey& bytes, const StepState* epoch, float* x,
                               cudaStream_t stream) {
  const int64_t count = n * src.dim;
  if (count <= 0) return cudaSuccess;
  return launch("gather_rows", gather_rows_kernel, blocks_for(count), kThreads, stream, src, first,
                static_cast<uint32_t>(count), bytes, epoch, x);
}

}  // namespace vae::cuda
