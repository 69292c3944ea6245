// The contract of vae-train's data readers, checked on whatever they accept:
// at least one row of at least one value, exactly rows x dim values of the
// declared type, every float finite, and the row helpers working on it.
#pragma once

#include <cmath>
#include <string>

#include "data_matrix.h"
#include "fuzz_support.h"

namespace vae_fuzz {

inline void check_accepted_matrix(vae_app::DataMatrix data) {
  using vae_app::ElementType;
  require(data.rows >= 1 && data.dim >= 1,
          "accepted a matrix of " + std::to_string(data.rows) + " x " + std::to_string(data.dim));
  const auto values = static_cast<std::size_t>(data.rows) * static_cast<std::size_t>(data.dim);
  const bool bytes = data.type == ElementType::uint8;
  require(bytes ? data.bytes.size() == values && data.floats.empty()
                : data.floats.size() == values && data.bytes.empty(),
          "the matrix does not hold rows x dim values of its type");
  for (const float v : data.floats) require(std::isfinite(v), "accepted a non-finite float");

  const std::vector<float> last = vae_app::rows_as_floats(data, data.rows - 1, 1);
  require(last.size() == static_cast<std::size_t>(data.dim), "rows_as_floats gave a short row");
  if (data.rows >= 2) {
    const vae_app::DataMatrix tail = vae_app::split_off_last_rows(data, 1);
    require(tail.rows == 1 && data.rows >= 1 && vae_app::rows_as_floats(tail, 0, 1) == last,
            "split_off_last_rows moved the wrong row");
  }
}

}  // namespace vae_fuzz
