// vae-train's trainer and datasets: a new trainer as the flags describe it,
// or the checkpoint's, and the library's copies of the data.
#ifndef VAE_APPS_TRAINER_SETUP_H
#define VAE_APPS_TRAINER_SETUP_H

#include <cstdint>
#include <filesystem>

#include "data_matrix.h"
#include "options.h"
#include "vae_handles.h"

namespace vae_app {

// A new trainer for rows of input_dim values, configured by the flags.
// run_steps: the steps of the whole run (--epochs times the steps of an
// epoch), over which a decaying --lr-schedule without --lr-decay decays.
// classes: the one-hot conditions' width (VAE_OPT_CONDITION_DIM), 0 for a
// model without conditions.
TrainerHandle create_trainer(const Options& options, std::int64_t input_dim,
                             std::int64_t run_steps, std::int64_t classes);

// The checkpoint's trainer, with the options a run may change taken from
// the command line: threads always, the learning rate and objective if given.
TrainerHandle resume_trainer(const Options& options, const std::filesystem::path& checkpoint);

// The library's copy of the first `rows` rows of `data`, with their labels
// as one-hot conditions where data has labels (vae_dataset_set_labels).
DatasetHandle make_dataset(vae_trainer* trainer, const DataMatrix& data, int transform,
                           std::int64_t rows);

}  // namespace vae_app

#endif  // VAE_APPS_TRAINER_SETUP_H
