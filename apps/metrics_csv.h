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

// Writes the header and `rows`, replacing the file at once: a temporary
// file beside it, flushed to the disk, then renamed over it, so a crash or
// a kill leaves the old file or the new one, never a part. Throws
// std::runtime_error("PATH: ...") when it cannot, the old file kept.
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows);

// The rows of a run resumed from a checkpoint of `epochs_done` epochs: the
// file's rows up to that epoch. vae-train writes an epoch's row before its
// checkpoint, so a run stopped between the two leaves rows of epochs the
// checkpoint does not hold; they are dropped here (and the file rewritten
// without them; *dropped counts them), to be trained again.
std::vector<EpochMetrics> metrics_for_checkpoint(const std::string& path,
                                                 std::int64_t epochs_done, std::size_t* dropped);

// `value` as a row of metrics.csv holds it (9 significant digits), which is
// what a resumed run reads back: a figure compared when it is written
// compares the same when read (vae-train --patience).
double as_written(double value);

// All rows of the file; none when it does not exist. Throws DataFileError
// naming the file and line for a wrong header or a malformed row.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_METRICS_CSV_H
