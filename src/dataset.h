// The object behind vae_dataset: rows kept in the memory of one trainer's
// backend (host memory for the CPU, GPU memory for CUDA), as floats or as
// bytes with the transform applied each time a row is used.
#pragma once

#include <cstdint>

#include "byte_transform.h"

namespace vae {

class Trainer;

struct Dataset {
  virtual ~Dataset() = default;

  const Trainer* owner = nullptr;
  int64_t rows = 0;
  int64_t dim = 0;
  bool bytes = false;
  ByteTransform transform = ByteTransform::kScale;
  // Backend memory, set by the backend that made the dataset.
  const float* floats = nullptr;  // [rows, dim] when !bytes
  const uint8_t* u8 = nullptr;    // [rows, dim] when bytes
  int64_t* order = nullptr;       // [rows] this epoch's permutation
  // The rows' conditions (vae_dataset_set_conditions, _labels), backend
  // memory: condition_dim 0 when none are set; else floats [rows,
  // condition_dim], or labels [rows] whose one-hot rows are the conditions.
  int64_t condition_dim = 0;
  const float* conditions = nullptr;
  const uint8_t* labels = nullptr;
};

}  // namespace vae
