// A conditional VAE's inputs (vae.h, VAE_OPT_CONDITION_DIM = C): the first
// encoder layer reads [x | c] and the first decoder layer [z | c], so each
// row's condition is joined to its input row before those layers. Written
// once for both backends: the CPU loops and the CUDA kernels call these per
// element.
#pragma once

#include <cstdint>

#include "host_device.h"

namespace vae {

// Which condition row row r of a joined buffer takes:
//   ((r + offset) / divide) mod modulo - base   (modulo 0: no modulo).
// The training step's decoder rows r = s n + i (sample s of data row i)
// take row i (modulo n); an evaluation chunk's pairs g = i K + s, counted
// from the chunk's first pair, take data row i less the chunk's first
// staged row (offset, divide K, base); every other buffer row r takes row r.
struct ConditionRows {
  int64_t offset = 0;
  int64_t divide = 1;
  int64_t modulo = 0;
  int64_t base = 0;
};

VAE_HD int64_t condition_row(const ConditionRows& m, int64_t r) {
  int64_t q = (r + m.offset) / m.divide;
  if (m.modulo > 0) q %= m.modulo;
  return q - m.base;
}

// Element (r, col) of the joined rows [left_r | c_row(r)], each
// left_width + cond_width wide: left [rows, left_width], cond [., cond_width].
template <class T>
VAE_HD T joined_value(const T* left, int64_t left_width, const T* cond, int64_t cond_width,
                      const ConditionRows& m, int64_t r, int64_t col) {
  return col < left_width ? left[r * left_width + col]
                          : cond[condition_row(m, r) * cond_width + (col - left_width)];
}

// Column col of the one-hot condition of a row whose class label is `label`.
template <class T>
VAE_HD T one_hot_value(uint8_t label, int64_t col) {
  return col == static_cast<int64_t>(label) ? T(1) : T(0);
}

}  // namespace vae
