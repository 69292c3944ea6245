#include "allreduce_hook.h"

#include <cstring>
#include <string>

#include "error.h"

namespace vae {
namespace {

// Room for the hook's message, its NUL included.
constexpr size_t kMessageBytes = 512;

// The status a failed hook's call returns: its own when it is an error
// status of vae.h, else VAE_ERROR_DEVICE.
vae_status failure_status(vae_status returned) {
  int code = 0;
  static_assert(sizeof(vae_status) == sizeof(int), "vae_status is int-sized");
  std::memcpy(&code, &returned, sizeof code);
  return code > VAE_OK && code <= VAE_ERROR_INTERNAL ? returned : VAE_ERROR_DEVICE;
}

}  // namespace

void AllreduceHook::sum(float* buffer, int64_t count, bool on_device, void* stream) const {
  char message[kMessageBytes] = {};
  const vae_status status =
      fn_(user_data_, buffer, count, on_device ? 1 : 0, stream, message, kMessageBytes);
  if (status == VAE_OK) return;
  message[kMessageBytes - 1] = '\0';
  int code = 0;
  std::memcpy(&code, &status, sizeof code);
  const std::string detail =
      message[0] != '\0' ? std::string(message)
                         : "it returned status " + std::to_string(code) + " without a message";
  fail(failure_status(status),
       "allreduce hook: " + detail + "; this step changed nothing");
}

}  // namespace vae
