// The one-hot conditions vae-train gives a conditional model (vae.h,
// VAE_OPT_CONDITION_DIM = classes): the condition of class k is e_k, a row
// of `classes` floats. A model without conditions (classes 0) gets none:
// empty vectors, passed on as NULL.
#ifndef VAE_APPS_CONDITIONS_H
#define VAE_APPS_CONDITIONS_H

#include <cstdint>
#include <vector>

#include "data_matrix.h"

namespace vae_app {

// The conditions of rows [first, first + count) of data, from its labels.
// Throws std::out_of_range when those rows have no labels.
std::vector<float> label_conditions(const DataMatrix& data, std::int64_t first, std::int64_t count,
                                    std::int64_t classes);

// per_class rows of class 0, then per_class of class 1, ..., up to class
// shown_classes - 1.
std::vector<float> class_conditions(std::int64_t shown_classes, std::int64_t per_class,
                                    std::int64_t classes);

// The condition of row `row` in conditions (as vae_rows.condition takes
// it), or NULL where there are none.
inline const float* condition_row(const std::vector<float>& conditions, std::int64_t row,
                                  std::int64_t classes) {
  return conditions.empty() ? nullptr : conditions.data() + row * classes;
}

}  // namespace vae_app

#endif  // VAE_APPS_CONDITIONS_H
