// Telling host memory from GPU memory (cudaPointerGetAttributes where the
// CUDA backend is built; always host otherwise).
#pragma once

namespace vae {

bool pointer_is_device(const void* p);

}  // namespace vae
