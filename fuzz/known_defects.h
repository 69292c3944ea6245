// The open defects of issue 10 that the fuzz targets would otherwise hit at
// once. With VAE_FUZZ_SKIP_KNOWN_DEFECTS=1 in the environment the targets step
// around them, so that a development run can look past them for new
// findings; CI never sets it, so CI reports them until they are fixed.
// Delete this file and its uses once the fixes of issue 10 are merged.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "vae/vae.h"

namespace vae_fuzz {

enum class KnownDefect {
  kThreadsChangeOnLiveTrainer,  // issue 10, defect 1: new workers rerun a dead task
  kCounterOverflow,             // defect 5: counters near INT64_MAX from a checkpoint
  kHugeDoubleToInteger,         // defect 6: an integer option set from |value| >= 2^63
  kLoadAcceptsNonFiniteState,   // defect 7: NaN parameters or moments load
  kStatusStringOutOfRange,      // defect 10: vae_status_string of a value outside the enum
};

inline bool skip_known_defect(KnownDefect) {
  static const bool skip = [] {
    const char* value = std::getenv("VAE_FUZZ_SKIP_KNOWN_DEFECTS");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return skip;
}

// Whether to skip setting `option` to `value` (given as a double when
// as_double) on a trainer running `threads` threads (0: on a configuration).
inline bool skip_known_defect_of_setting(int option, double value, bool as_double, int64_t threads) {
  const bool float_option = option == VAE_OPT_LOG_VARIANCE ||
                            (option >= VAE_OPT_LEARNING_RATE && option <= VAE_OPT_KL_WEIGHT);
  if (as_double && !float_option && std::isfinite(value) && std::fabs(value) >= 9.2e18) {
    return skip_known_defect(KnownDefect::kHugeDoubleToInteger);
  }
  if (option == VAE_OPT_THREADS && threads > 0 && value != static_cast<double>(threads)) {
    return skip_known_defect(KnownDefect::kThreadsChangeOnLiveTrainer);
  }
  return false;
}

}  // namespace vae_fuzz
