// The open defects of issue 10 that the fuzz targets would otherwise hit at
// once. VAE_FUZZ_SKIP_KNOWN_DEFECTS in the environment names those the targets
// step around ("all", or numbers of the list, e.g. "6,10"), so that a
// development run can look past them for new findings; CI never sets it, so
// CI reports them until they are fixed.
// Delete this file and its uses once the fixes of issue 10 are merged.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "vae/vae.h"

namespace vae_fuzz {

// By their numbers in issue 10.
enum class KnownDefect {
  kThreadsChangeOnLiveTrainer = 1,  // new workers rerun a dead task
  kCounterOverflow = 5,             // counters near INT64_MAX from a checkpoint
  kHugeDoubleToInteger = 6,         // an integer option set from |value| >= 2^63
  kLoadAcceptsNonFiniteState = 7,   // NaN parameters or moments load
  kStatusStringOutOfRange = 10,     // vae_status_string of a value outside the enum
};

inline bool skip_known_defect(KnownDefect defect) {
  const char* list = std::getenv("VAE_FUZZ_SKIP_KNOWN_DEFECTS");
  if (list == nullptr) return false;
  if (std::strcmp(list, "all") == 0) return true;
  for (const char* p = list; *p != '\0';) {
    char* end = nullptr;
    const long number = std::strtol(p, &end, 10);
    if (end == p) {
      ++p;
    } else {
      if (number == static_cast<long>(defect)) return true;
      p = end;
    }
  }
  return false;
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
