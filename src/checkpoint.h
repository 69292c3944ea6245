// A trainer's whole state as a safetensors file (DESIGN.md section 4):
// parameters under PyTorch's nn.Linear names and layout, Adam's moments as
// optimizer.exp_avg.<name> and optimizer.exp_avg_sq.<name>, the
// configuration and the counters in __metadata__.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vae/vae.h"

namespace vae {

class Trainer;

void save_checkpoint(const Trainer& trainer, const std::string& path);

// The caller's values of options a checkpoint holds beyond the model
// (vae_load's backend; of vae_load_config's config, those of
// kLoadChoosableOptions that were set), each replacing the file's.
using LoadChoices = std::vector<std::pair<int, int64_t>>;

// What vae_load_config takes from its config: the backend, the device, and
// what sizes memory and threads (max batch, threads, evaluation rows, TF32).
inline constexpr int kLoadChoosableOptions[] = {VAE_OPT_BACKEND, VAE_OPT_DEVICE,
                                                VAE_OPT_MAX_BATCH, VAE_OPT_THREADS,
                                                VAE_OPT_EVAL_ROWS, VAE_OPT_TF32};

// Builds a trainer with the saved state, the file's options replaced by
// `choices` (VAE_OPT_BACKEND AUTO keeps the saved choice when it is
// available). The file's thread count, unless chosen, is lowered to the
// CPUs this process may use; everything else not chosen is the file's, so
// that a checkpoint round-trips every option.
std::unique_ptr<Trainer> load_checkpoint(const std::string& path, const LoadChoices& choices);

}  // namespace vae
