// The simulated CUB radix sort (sim/src/radix_sort.cpp): SortPairs of 64-bit
// keys with 64-bit values, stable, on the bits [begin_bit, end_bit), queued
// on the stream. A null temporary buffer asks for its size, as with CUB.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda_runtime_api.h"

namespace cub {

struct DeviceRadixSort {
  CUDASIM_EXPORT static cudaError_t SortPairs(void* temp, size_t& temp_bytes,
                                              const uint64_t* keys_in, uint64_t* keys_out,
                                              const int64_t* values_in, int64_t* values_out,
                                              int64_t count, int begin_bit = 0,
                                              int end_bit = 64, cudaStream_t stream = nullptr);
};

}  // namespace cub
