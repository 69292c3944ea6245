// vae-train's closing diagnostics, computed by the library (README,
// "Diagnostics"): the latent usage over the test set (vae_latent_usage)
// and, on the first --gap-rows test rows, the split of log p(x) - ELBO into
// the approximation and the amortization gap (vae_log_likelihood_stats,
// vae_refine_posterior); shown as diagnostics.h says.
#ifndef VAE_APPS_DIAGNOSTICS_REPORT_H
#define VAE_APPS_DIAGNOSTICS_REPORT_H

#include <vae/vae.h>

#include <filesystem>
#include <string>

#include "data_matrix.h"
#include "diagnostics.h"
#include "options.h"

namespace vae_app {

// Computes the diagnostics (log_px: the test log-likelihood's figures, or
// null where it was not estimated), prints the table, and writes
// diagnostics.json and latent_usage.png into directory. Returns false,
// writing nothing, when a signal stopped it (StopSignals); throws
// LibraryError when the library fails.
bool report_diagnostics(const Options& options, vae_trainer* trainer, const DataMatrix& test,
                        vae_dataset* test_set, int transform, const LogLikelihoodFigures* log_px,
                        const std::string& model, const std::filesystem::path& directory);

}  // namespace vae_app

#endif  // VAE_APPS_DIAGNOSTICS_REPORT_H
