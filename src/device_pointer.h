// Telling host memory from GPU memory: the CUDA module's
// cudaPointerGetAttributes, asked only in a process that has loaded the
// NVIDIA driver (no other can hold device memory); always host in a build
// without the CUDA backend or where the module cannot be loaded.
#pragma once

namespace vae {

bool pointer_is_device(const void* p);

}  // namespace vae
