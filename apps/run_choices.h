// The training choices of a vae-train run that its checkpoint does not hold
// whole (the KL weight's warm-up, the E/M schedule, the byte transform, the
// early stopping's patience, and the batch, learning rate, beta and
// objective as the command line gave them), kept in the run directory's
// training.txt, written before the run's first checkpoint. --resume
// continues with them: a flag that is not given takes the run's value, and
// one given with another value is refused, so that a resumed run trains as
// the uninterrupted one would.
#ifndef VAE_APPS_RUN_CHOICES_H
#define VAE_APPS_RUN_CHOICES_H

#include <optional>
#include <string>

#include "options.h"

namespace vae_app {

inline constexpr char kTrainingChoicesFile[] = "training.txt";

// Writes options' training choices to path (a file beside, then renamed
// over it). Throws DataFileError.
void write_training_choices(const std::string& path, const Options& options);

// The choices path holds, put into a copy of `given` (an --resume's
// options): a flag given with the value the run has is accepted, one with
// another value throws UsageError naming both. Returns nullopt, changing
// nothing, when path does not exist (a run of an older vae-train). Throws
// DataFileError for a file that is damaged.
std::optional<Options> resume_training_choices(const std::string& path, const Options& given);

}  // namespace vae_app

#endif  // VAE_APPS_RUN_CHOICES_H
