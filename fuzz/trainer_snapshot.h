// A trainer's whole observable state, for fuzz_api_calls to compare before
// and after each call: its checkpoint (parameters, both Adam moments, the
// configuration and every counter, as vae_save writes them) and what
// vae_get_int and vae_get_float answer for each option.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vae/vae.h"

namespace vae_fuzz {

struct Snapshot {
  std::vector<std::uint8_t> checkpoint;  // the bytes vae_save wrote
  std::map<int, std::string> options;    // option -> what the getters answer
};

// Saves t to `path` (which must succeed) and reads everything back.
Snapshot take_snapshot(vae_trainer* t, const std::string& path);

// What differs between two snapshots: metadata keys and tensor names
// (tensors compared bit for bit), and "option N" for each option. The
// checkpoints are only parsed when their bytes differ.
std::vector<std::string> differences(const Snapshot& before, const Snapshot& after);

// True for the names of differences() that a checkpoint does not keep
// (vae.h): the skipped steps (counted from the load), the rank and the
// world size (which belong to the run).
bool not_in_checkpoints(const std::string& name);

// A counter of the checkpoint metadata ("libvae.steps", ...).
int64_t counter(const Snapshot& s, const std::string& key);
// What vae_get_int answered for VAE_OPT_SKIPPED_STEPS.
int64_t skipped_steps(const Snapshot& s);
// Whether `name` (a difference between a trainer saved and the one loaded
// from its checkpoint) is the thread count that vae_load lowered to the
// CPUs the process may use (vae.h, vae_load_config).
bool threads_lowered_by_load(const std::string& name, const Snapshot& saved,
                             const Snapshot& loaded);

}  // namespace vae_fuzz
