// What vae_refine_posterior (vae.h) hands its backend: the call's settings
// and one chunk of its rows (src/posterior_refiner.h does the work).
#pragma once

#include <cstdint>

#include "philox.h"

namespace vae {

// The call's settings, checked by Trainer::refine_posterior.
struct RefineSettings {
  int64_t steps = 0;         // T, Adam steps per row
  int64_t samples = 1;       // z samples per step
  int64_t elbo_samples = 1;  // samples of each ELBO estimate
  double learning_rate = 0;
};

// Rows [first, first + rows) of the call's n_total, staged in the
// workspace's x; `key` the call's noise (one draw: vae.h says which element
// each sample takes).
struct RefineChunk {
  int64_t first = 0;
  int64_t rows = 0;
  int64_t n_total = 0;
  NoiseKey key{};
};

}  // namespace vae
