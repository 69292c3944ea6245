// vae-train's report of a run's setup, printed before the first epoch.
#ifndef VAE_APPS_SETUP_REPORT_H
#define VAE_APPS_SETUP_REPORT_H

#include <vae/vae.h>

#include <cstdint>
#include <string>

#include "data_matrix.h"
#include "options.h"

namespace vae_app {

// What the report tells besides the options and the trainer's own values.
struct SetupFacts {
  std::string data_name;
  const DataMatrix* train;
  const DataMatrix* test;
  int transform;            // VAE_BYTES_*, for byte data
  std::int64_t batch;
  std::int64_t epochs_done;  // of a resumed run
  std::string directory;
};

// The data, the model, the training choices and the learning rate's
// schedule and clipping (read from the trainer, so a resumed run shows its
// checkpoint's), and where the run writes.
void print_setup(const Options& options, const SetupFacts& facts, vae_trainer* trainer);

}  // namespace vae_app

#endif  // VAE_APPS_SETUP_REPORT_H
