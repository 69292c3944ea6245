// The open defects of issue 10 that the fuzz targets would otherwise hit at
// once. With VAE_FUZZ_SKIP_KNOWN_DEFECTS=1 in the environment the targets step
// around them, so that a development run can look past them for new
// findings; CI never sets it, so CI reports them until they are fixed.
// Delete this file and its uses once the fixes of issue 10 are merged.
#pragma once

#include <cstdlib>
#include <cstring>

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

}  // namespace vae_fuzz
