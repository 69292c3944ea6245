// Launchers of the element-wise layer kernels (kernels/activation.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "element_math.h"

namespace vae::cuda {

// y[r, o] = act(y[r, o] + b[o]) over a row-major [rows, cols] matrix, in
// place; b may be null (the activation alone).
cudaError_t launch_bias_activation(float* y, const float* bias, int64_t rows, int64_t cols,
                                   Activation act, cudaStream_t stream);

// dx[e] *= act'(x[e]), the derivative written through the layer's stored
// output x (vae::activation_grad_from_output).
cudaError_t launch_activation_grad(float* dx, const float* x, int64_t count, Activation act,
                                   cudaStream_t stream);

// p[e] = value.
cudaError_t launch_fill(float* p, int64_t count, float value, cudaStream_t stream);

}  // namespace vae::cuda
