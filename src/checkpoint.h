// A trainer's whole state as a safetensors file (DESIGN.md section 4):
// parameters under PyTorch's nn.Linear names and layout, Adam's moments as
// optimizer.exp_avg.<name> and optimizer.exp_avg_sq.<name>, the
// configuration and the counters in __metadata__.
#pragma once

#include <memory>
#include <string>

namespace vae {

class Trainer;

void save_checkpoint(const Trainer& trainer, const std::string& path);
struct Config;

// Builds a trainer on `backend` (VAE_BACKEND_*; AUTO keeps the saved choice
// when it is available) with the saved state. The file's choices of what is
// not the model are not trusted: with `limits`, its backend, device, max
// batch, threads, evaluation rows and TF32 replace the file's (without,
// the file's are kept, so that a checkpoint round-trips every option).
std::unique_ptr<Trainer> load_checkpoint(const std::string& path, int backend,
                                         const Config* limits = nullptr);

}  // namespace vae
