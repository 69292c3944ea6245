// The element-wise parts of a layer (DESIGN.md section 2: GEMM + bias +
// activation; activation gradients), around the cuBLASLt GEMMs:
// Every count is below 2^31 (Config::validate): 32-bit index math.
//   forward  y = act(x W^T + b)  (when no cuBLASLt epilogue applied the bias
//            and activation, or for tanh, which has no epilogue);
//   backward dx = (dy W) * act'(x), act' from the stored output:
//            relu' = [y > 0], tanh' = 1 - y^2.
#include "activation.cuh"
#include "launch.cuh"

namespace vae::cuda {
namespace {

__global__ void bias_activation_kernel(float* __restrict__ y, const float* __restrict__ bias,
                                       uint32_t count, uint32_t cols, Activation act) {
  const uint32_t e = global_index();
  if (e >= count) return;
  const float pre = bias != nullptr ? y[e] + bias[e % cols] : y[e];
  y[e] = activate(pre, act);
}

__global__ void activation_grad_kernel(float* __restrict__ dx, const float* __restrict__ x,
                                       uint32_t count, Activation act) {
  const uint32_t e = global_index();
  if (e < count) dx[e] *= activation_grad_from_output(x[e], act);
}

// 64-bit: the flat parameter buffers it fills may pass 2^32 elements.
__global__ void fill_kernel(float* __restrict__ p, int64_t count, float value) {
  const int64_t e = global_index64();
  if (e < count) p[e] = value;
}

}  // namespace

cudaError_t launch_bias_activation(float* y, const float* bias, int64_t rows, int64_t cols,
                                   Activation act, cudaStream_t stream) {
  const int64_t count = rows * cols;
  if (count <= 0) return cudaSuccess;
  return launch("bias_activation", bias_activation_kernel, blocks_for(count), kThreads, stream, y,
                bias, static_cast<uint32_t>(count), static_cast<uint32_t>(cols), act);
}

cudaError_t launch_activation_grad(float* dx, const float* x, int64_t count, Activation act,
                                   cudaStream_t stream) {
  if (count <= 0 || act == Activation::kIdentity) return cudaSuccess;
  return launch("activation_grad", activation_grad_kernel, blocks_for(count), kThreads, stream, dx,
                x, static_cast<uint32_t>(count), act);
}

cudaError_t launch_fill(float* p, int64_t count, float value, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  return launch("fill", fill_kernel, blocks_for(count), kThreads, stream, p, count, value);
}

}  // namespace vae::cuda
