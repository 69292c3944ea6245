// What the simulated device lets a test watch that a real one does not:
// where captures begin, how much memory is pinned. (Tests include it only in
// VAE_CUDA_SIMULATOR builds.)
#pragma once

#include <functional>

#include "cuda_runtime_api.h"

namespace cudasim {

// Called, on the capturing thread, with the stream and its flags of every
// cudaStreamBeginCapture that succeeds; an empty function stops it.
CUDASIM_EXPORT void set_capture_observer(std::function<void(cudaStream_t, unsigned int)> observer);

// Bytes of pinned host memory (cudaMallocHost) held now.
CUDASIM_EXPORT size_t pinned_bytes();

}  // namespace cudasim
