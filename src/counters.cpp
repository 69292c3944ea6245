#include "counters.h"

#include <sstream>

#include "error.h"

namespace vae {

void check_loaded_counter(const std::string& name, int64_t value) {
  if (value >= 0 && value <= kMaxCounter) return;
  std::ostringstream m;
  m << "checkpoint metadata " << name << " is " << value << ", outside [0, " << kMaxCounter
    << "] (VAE_MAX_COUNTER)";
  fail(VAE_ERROR_FORMAT, m.str());
}

void check_counter_room(const char* what, int64_t value, int64_t by) {
  if (by <= kMaxCounter - value) return;
  std::ostringstream m;
  m << "the trainer's " << what << " is " << value << "; " << by
    << " more would pass VAE_MAX_COUNTER (" << kMaxCounter
    << "), the most a counter can reach, so nothing was done";
  fail(VAE_ERROR_UNSUPPORTED, m.str());
}

}  // namespace vae
