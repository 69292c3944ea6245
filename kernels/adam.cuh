// Launcher of the optimizer kernel (kernels/adam.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "element_math.h"

namespace vae::cuda {

// One Adam step over the elements [begin, end) of the flat parameter,
// gradient and moment buffers: one launch.
cudaError_t launch_adam(float* p, const float* g, float* m, float* v, size_t begin, size_t end,
                        const AdamStep& step, cudaStream_t stream);

}  // namespace vae::cuda
