// Calls on a trainer from the caller's code it is running (vae.h,
// vae_set_allreduce and vae_set_progress): what the allreduce hook and the
// progress callbacks may not do to the trainer whose call runs them.
#include <string>

#include "error.h"
#include "trainer.h"

namespace vae {

const char* Trainer::callback_running() const {
  if (allreduce_.running()) return "the allreduce hook";
  if (in_evaluation_callback_ != nullptr) {
    return in_evaluation_callback_ == std::string("vae_evaluate_dataset")
               ? "the progress callback of vae_evaluate_dataset"
               : "the progress callback of vae_log_likelihood_dataset";
  }
  // The epoch runs the caller's code only in its progress callback (its
  // steps' hook is named above).
  if (in_epoch_) return "the progress callback of vae_train_epoch";
  return nullptr;
}

void Trainer::check_not_in_hook(const char* call) const {
  if (allreduce_.running()) {
    invalid_argument(std::string(call) +
                     ": called from the allreduce hook of this trainer's step, which may call "
                     "only vae_interrupt, vae_get_int, vae_get_float, vae_get_hidden_layers and "
                     "vae_parameter_count on it; nothing changed");
  }
}

}  // namespace vae
