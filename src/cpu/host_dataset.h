// The CPU backend's dataset: the rows, their conditions and the epoch's
// order in host memory, which the Dataset's pointers point into.
#pragma once

#include <cstdint>
#include <vector>

#include "dataset.h"

namespace vae {

struct HostDataset final : Dataset {
  std::vector<float> float_rows;
  std::vector<uint8_t> byte_rows;
  std::vector<int64_t> permutation;
  std::vector<float> condition_rows;  // vae_dataset_set_conditions
  std::vector<uint8_t> label_rows;    // vae_dataset_set_labels
};

}  // namespace vae
