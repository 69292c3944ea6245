// The CPU loops of a conditional model's inputs (kernels/condition.h), for
// rows [r0, r1) of a buffer: the training step runs them in parts on the
// pool, the evaluation per tile on the thread that owns the tile.
#pragma once

#include <cstdint>

#include "condition.h"
#include "dataset.h"

namespace vae {

// out[r] = [left[r] | cond[condition_row(m, r)]], each row left_width +
// cond_width wide.
template <class T>
void join_condition_rows(const T* left, int64_t left_width, const T* cond, int64_t cond_width,
                         const ConditionRows& m, int64_t r0, int64_t r1, T* out) {
  const int64_t width = left_width + cond_width;
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t col = 0; col < width; ++col) {
      out[r * width + col] = joined_value(left, left_width, cond, cond_width, m, r, col);
    }
  }
}

// Rows [r0, r1) of the conditions of dataset rows row_of(r): its float
// conditions, or the one-hot rows of its labels.
template <class T, class RowOf>
void gather_condition_rows(const Dataset& ds, RowOf row_of, int64_t r0, int64_t r1, T* out) {
  const int64_t width = ds.condition_dim;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t row = row_of(r);
    T* dst = out + r * width;
    for (int64_t col = 0; col < width; ++col) {
      dst[col] = ds.labels != nullptr ? one_hot_value<T>(ds.labels[row], col)
                                      : T(ds.conditions[row * width + col]);
    }
  }
}

}  // namespace vae
