// The allreduce hook of a trainer whose steps ranks share
// (vae_set_allreduce): the caller's function that sums a buffer across the
// ranks, called once per training step.
#pragma once

#include <cstdint>

#include "vae/vae.h"

namespace vae {

class AllreduceHook {
 public:
  // fn null: no hook.
  void set(vae_allreduce_fn fn, void* user_data) {
    fn_ = fn;
    user_data_ = user_data;
  }
  bool is_set() const { return fn_ != nullptr; }
  // Whether the hook is running: the trainer's step is inside it, and
  // refuses the calls that would re-enter the trainer (vae.h).
  bool running() const { return running_; }
  // Sums the count floats of buffer across the ranks in place (on_device:
  // GPU memory, the sum queued on `stream`); throws Error with the hook's
  // status (VAE_ERROR_DEVICE when it returned no error status) and message
  // when the hook fails.
  void sum(float* buffer, int64_t count, bool on_device, void* stream) const;

 private:
  vae_allreduce_fn fn_ = nullptr;
  void* user_data_ = nullptr;
  mutable bool running_ = false;
};

}  // namespace vae
