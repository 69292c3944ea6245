#include "allreduce_hook.h"

#include <string>

#include "error.h"

namespace vae {
namespace {

// Room for the hook's message, its NUL included.
constexpr size_t kMessageBytes = 512;

// The status a failed hook's call returns: its own when it is an error
// status of vae.h, else VAE_ERROR_DEVICE. VAE_ERROR_NUMERICAL too becomes
// VAE_ERROR_DEVICE: the C API keeps it for skipped steps, counted and
// reported later, and a failed hook's step is not skipped but undone.
vae_status failure_status(int returned) {
  const bool passes = returned > VAE_OK && returned <= VAE_ERROR_INTERNAL &&
                      returned != VAE_ERROR_NUMERICAL;
  return passes ? static_cast<vae_status>(returned) : VAE_ERROR_DEVICE;
}

}  // namespace

void AllreduceHook::sum(float* buffer, int64_t count, bool on_device, void* stream) const {
  char message[kMessageBytes] = {};
  struct Running {
    bool* flag;
    explicit Running(bool* f) : flag(f) { *flag = true; }
    ~Running() { *flag = false; }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
  };
  int status = VAE_OK;
  {
    const Running running(&running_);
    status = fn_(user_data_, buffer, count, on_device ? 1 : 0, stream, message, kMessageBytes);
  }
  if (status == VAE_OK) return;
  message[kMessageBytes - 1] = '\0';
  const std::string detail =
      message[0] != '\0' ? std::string(message)
                         : "it returned status " + std::to_string(status) + " without a message";
  fail(failure_status(status),
       "allreduce hook: " + detail + "; this step changed nothing");
}

}  // namespace vae
