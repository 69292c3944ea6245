// The simulated device's memory: every allocation an ordinary heap block
// (so AddressSanitizer sees an access past its end), registered with its
// kind so that pointer attributes tell device, pinned, managed and pageable
// memory apart, and copies can be checked against their kind and bounds.
#pragma once

#include <cstddef>

#include "cuda_runtime_api.h"

namespace cudasim {

struct Region {
  cudaMemoryType type = cudaMemoryTypeUnregistered;
  int device = -1;
  void* base = nullptr;
  size_t room = 0;  // bytes from the pointer to the allocation's end
};

cudaError_t allocate(void** p, size_t bytes, cudaMemoryType type);
// Frees an allocation of `type` (device and managed memory alike for
// cudaFree); an unknown pointer is cudaErrorInvalidValue.
cudaError_t release(void* p, bool pinned);
// What p points into; type cudaMemoryTypeUnregistered for pageable memory.
Region find(const void* p);

// The checks of a copy that writes dst_bytes from dst on and reads
// src_bytes from src on: each registered side within its allocation, the
// kind consistent with the pointers.
cudaError_t check_copy(void* dst, size_t dst_bytes, const void* src, size_t src_bytes,
                       cudaMemcpyKind kind);
cudaError_t check_device_range(const void* p, size_t bytes);

}  // namespace cudasim
