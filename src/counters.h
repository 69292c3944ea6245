// The counters that together with the state buffers make the whole training
// state, and the limit they stay within.
#pragma once

#include <cstdint>
#include <string>

#include "vae/vae.h"

namespace vae {

// The Philox counter word carries the noise stream in its top byte (see
// kernels/philox.h), so counters below 2^56 name distinct noise; no counter
// passes VAE_MAX_COUNTER = 2^56 - 1, and none can overflow.
constexpr int64_t kMaxCounter = VAE_MAX_COUNTER;
static_assert(kMaxCounter == (int64_t{1} << 56) - 1, "VAE_MAX_COUNTER is 2^56 - 1");

// A checkpoint restores them (all but skipped_steps), so training resumes
// bit for bit. The step counters live with the backend (StepState), the
// others on the host.
struct Counters {
  int64_t steps = 0;          // successful train steps; keys the training noise
  int64_t encoder_steps = 0;  // Adam step count t of the encoder's parameters
  int64_t decoder_steps = 0;  // ... and of the decoder's
  int64_t epochs = 0;         // completed vae_train_epoch calls; keys the shuffle
  int64_t draws = 0;          // noise draws outside training (evaluation, sampling)
  int64_t skipped_steps = 0;  // steps skipped since the trainer was created or loaded
};

// Throws Error(VAE_ERROR_FORMAT) naming `name` unless `value`, a counter
// read from a file, is in [0, kMaxCounter].
void check_loaded_counter(const std::string& name, int64_t value);

// Throws Error(VAE_ERROR_UNSUPPORTED) naming the counter `what` when `value`
// cannot advance by `by` (>= 0) without passing kMaxCounter.
void check_counter_room(const char* what, int64_t value, int64_t by);

}  // namespace vae
