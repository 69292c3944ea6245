// What both adapters (vae_mpi, vae_nccl) keep as libvae keeps
// vae_last_error(): the calling thread's message of its last failed call,
// cleared by a call that succeeds; and libvae's limit on ranks.
#pragma once

#include <new>
#include <string>

#include "vae/vae.h"

namespace vae_adapters {

// libvae's limit on ranks (VAE_OPT_WORLD_SIZE).
inline constexpr int kMaxRanks = 4096;

// The error text of the adapter named kName. Each adapter instantiates it
// with a name of internal linkage, so each keeps a text of its own.
template <const char* kName>
class AdapterError {
 public:
  // Sets the text to "<kName>: <message>" (empty when that cannot be
  // allocated) and returns status.
  static vae_status failed(vae_status status, const std::string& message) {
    try {
      text_ = std::string(kName) + ": " + message;
    } catch (const std::bad_alloc&) {
      text_.clear();
    }
    return status;
  }
  static vae_status succeeded() {
    text_.clear();
    return VAE_OK;
  }
  static const char* last() { return text_.c_str(); }

 private:
  static thread_local std::string text_;
};

template <const char* kName>
thread_local std::string AdapterError<kName>::text_;

}  // namespace vae_adapters
