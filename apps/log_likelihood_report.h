// vae-train's final estimate of the test log-likelihood, with its progress bar.
#ifndef VAE_APPS_LOG_LIKELIHOOD_REPORT_H
#define VAE_APPS_LOG_LIKELIHOOD_REPORT_H

#include <vae/vae.h>

#include <cstdint>

#include "data_matrix.h"
#include "diagnostics.h"
#include "options.h"

namespace vae_app {

// Estimates the log-likelihood of the first --ll-rows rows of test (the
// library's copy: test_set) by importance sampling with --ll-samples
// samples, and prints it in nats with its standard error and mean ESS (and
// in bits per dimension for dequantized bytes) into *figures. Returns false,
// printing no figure, when a signal stopped it (StopSignals); throws
// LibraryError when the library fails.
bool report_log_likelihood(const Options& options, vae_trainer* trainer, const DataMatrix& test,
                           vae_dataset* test_set, int transform, LogLikelihoodFigures* figures);

}  // namespace vae_app

#endif  // VAE_APPS_LOG_LIKELIHOOD_REPORT_H
