#include "vae_handles.h"

namespace vae_app {

void check(vae_status status, const std::string& call) {
  if (status == VAE_OK) return;
  const char* detail = vae_last_error();
  throw LibraryError(call + ": " + vae_status_string(status) +
                     (detail != nullptr && *detail != '\0' ? std::string(": ") + detail : ""));
}

std::int64_t get_int_option(const vae_trainer* trainer, int option, const char* name) {
  std::int64_t value = 0;
  check(vae_get_int(trainer, option, &value), std::string("vae_get_int(") + name + ")");
  return value;
}

}  // namespace vae_app
