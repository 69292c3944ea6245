// vae-train's closing diagnostics as data (README, "Diagnostics"): the test
// log-likelihood's figures, the latent usage, the inference gap; and how
// they are shown: the table printed, diagnostics.json, latent_usage.png.
// The library calls that compute them are in diagnostics_report.h.
#ifndef VAE_APPS_DIAGNOSTICS_H
#define VAE_APPS_DIAGNOSTICS_H

#include <cstdint>
#include <string>
#include <vector>

#include "data_matrix.h"

namespace vae_app {

// The log-likelihood estimate's figures (vae_log_likelihood_stats_dataset):
// the mean of log p^ over the rows, its Monte Carlo standard error, the mean
// effective sample size, and the rows and K it used.
struct LogLikelihoodFigures {
  double log_px = 0.0;
  double std_error = 0.0;
  double mean_ess = 0.0;
  std::int64_t rows = 0;
  std::int64_t k = 0;
};

// A mean over rows with its standard error: the spread of the rows' values
// (sample standard deviation) over sqrt(n), which holds their Monte Carlo
// noise too; 0 for one row.
struct MeanWithError {
  double mean = 0.0;
  double std_error = 0.0;
};

MeanWithError mean_with_error(const std::vector<double>& values);

// log p(x) - ELBO(encoder) = approximation + amortization on `rows` rows.
struct InferenceGap {
  std::int64_t rows = 0;
  std::int64_t k = 0;      // importance samples of log p(x)
  std::int64_t steps = 0;  // Adam steps of each refined q
  MeanWithError log_px, elbo_refined, elbo_encoder, approximation, amortization;
};

struct Diagnostics {
  std::vector<double> kl;        // per latent: mean KL(q(z_u|x) || N(0, 1)), nats
  std::vector<double> activity;  // per latent: Cov_x(E_q[z_u])
  double active_threshold = 0.01;
  std::int64_t active_units = 0;
  double kl_total = 0.0;
  double mutual_information = 0.0;
  double mutual_information_std_error = 0.0;
  double marginal_kl = 0.0;
  bool has_log_px = false;  // the test log-likelihood, when estimated
  LogLikelihoodFigures log_px;
  bool has_gap = false;
  InferenceGap gap;
};

// The first `rows` rows of data as the model reads them: bytes scaled
// (transform 0, VAE_BYTES_SCALE), binarized (1) or dequantized (2) with a
// generator seeded by `seed`, once; floats as they are.
std::vector<float> transformed_rows(const DataMatrix& data, std::int64_t rows, int transform,
                                    std::uint64_t seed);

// The table vae-train prints, one line per figure.
std::string diagnostics_table(const Diagnostics& d);
// diagnostics.json's text: every figure, the per-latent arrays included.
std::string diagnostics_json(const Diagnostics& d);
// latent_usage.png: the KL of each latent as bars, sorted, the active ones
// in colour; model names the model in the title.
void write_latent_usage_png(const Diagnostics& d, const std::string& model,
                            const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_DIAGNOSTICS_H
