// The CUDA backend's dataset: copied into device memory once, with what
// drawing its permutation on the device needs ([order | sort keys (2n) |
// rows] and the radix sort's scratch), and its rows' conditions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_ops.h"
#include "dataset.h"

namespace vae {

struct DeviceDataset final : Dataset {
  cuda_detail::DeviceMemory values;
  cuda_detail::DeviceMemory permutation;
  cuda_detail::DeviceMemory condition_values;  // floats [rows, C] or labels [rows]
  uint64_t* keys = nullptr;
  int64_t* rows_in = nullptr;
  void* sort_scratch = nullptr;
  size_t sort_scratch_bytes = 0;
};

}  // namespace vae
