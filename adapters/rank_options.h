// What both adapters (vae_mpi, vae_nccl) do to make a trainer one of the
// ranks: set VAE_OPT_WORLD_SIZE and VAE_OPT_RANK through the C API, in the
// order that keeps the rank below the world size at each change.
#pragma once

#include <cstdint>

#include "vae/vae.h"

namespace vae_adapters {

// On failure vae_last_error() says why, and the options are as they were.
inline vae_status set_rank_options(vae_trainer* t, int rank, int world) {
  int64_t old_rank = 0, old_world = 1;
  vae_status status = vae_get_int(t, VAE_OPT_RANK, &old_rank);
  if (status == VAE_OK) status = vae_get_int(t, VAE_OPT_WORLD_SIZE, &old_world);
  if (status != VAE_OK) return status;
  // A growing world first takes the size, a shrinking one first the rank.
  const bool size_first = world > old_rank;
  status = size_first ? vae_set_int(t, VAE_OPT_WORLD_SIZE, world)
                      : vae_set_int(t, VAE_OPT_RANK, rank);
  if (status != VAE_OK) return status;
  status = size_first ? vae_set_int(t, VAE_OPT_RANK, rank)
                      : vae_set_int(t, VAE_OPT_WORLD_SIZE, world);
  if (status != VAE_OK) {
    // Undo the first change (it was valid from the old values, so is its undo).
    static_cast<void>(size_first ? vae_set_int(t, VAE_OPT_WORLD_SIZE, old_world)
                                 : vae_set_int(t, VAE_OPT_RANK, old_rank));
  }
  return status;
}

}  // namespace vae_adapters
