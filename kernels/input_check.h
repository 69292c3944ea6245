// The rule for data given to the compute calls (DESIGN.md section 4), one
// element at a time, for host and device code alike: a value is taken when
// it is finite, and for the Bernoulli likelihood when it lies in [0, 1].
#pragma once

#include "host_device.h"

namespace vae {

// x - x is 0 for finite x and NaN for NaN or infinity; a comparison with NaN
// is false, so NaN fails both tests. The bitwise & evaluates both
// comparisons without a branch, so loops over it vectorize.
template <class T>
VAE_HD bool input_value_ok(T x, bool bernoulli) {
  return bernoulli ? static_cast<bool>((x >= T(0)) & (x <= T(1))) : x - x == T(0);
}

}  // namespace vae
