// DIR/metrics.csv: one row per training epoch.
#ifndef VAE_APPS_METRICS_CSV_H
#define VAE_APPS_METRICS_CSV_H

#include <cstdint>
#include <string>
#include <vector>

namespace vae_app {

inline constexpr char kMetricsCsvHeader[] =
    "epoch,train_loss,test_elbo,test_reconstruction,test_kl,seconds";

struct EpochMetrics {
  std::int64_t epoch = 0;            // 1-based count of epochs trained
  double train_loss = 0.0;           // mean training loss, nats
  double test_elbo = 0.0;            // mean test ELBO, nats
  double test_reconstruction = 0.0;  // mean test E_q log p(x|z), nats (negative)
  double test_kl = 0.0;              // mean test KL(q || p), nats
  double seconds = 0.0;              // wall time of the epoch's training
};

// Appends one row, writing the header first when the file is new or empty.
// Throws std::runtime_error("PATH: ...") when the file cannot be written.
void append_metrics_row(const std::string& path, const EpochMetrics& row);

// All rows of the file; none when it does not exist. Throws DataFileError
// naming the file and line for a wrong header or a malformed row.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_METRICS_CSV_H
