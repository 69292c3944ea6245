// vae-train --patience N: the rule of early_stopping.h over the epochs of a
// run, and DIR/best.safetensors, the checkpoint of the best epoch so far.
//
// After each epoch (its metrics.csv row, then its checkpoint) the epoch's
// test ELBO is observed as metrics.csv holds it, so that a resumed run,
// which observes the file's rows again, counts exactly as the uninterrupted
// one; an improvement then saves the trainer to best.safetensors (vae_save:
// atomic), after the checkpoint. A run killed between those two saves leaves
// an older best.safetensors whose epoch the checkpoint holds: the resume
// writes it again from the checkpoint.
#ifndef VAE_APPS_EARLY_STOPPING_RUN_H
#define VAE_APPS_EARLY_STOPPING_RUN_H

#include <vae/vae.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "early_stopping.h"
#include "metrics_csv.h"
#include "rank_group.h"

namespace vae_app {

inline constexpr char kBestCheckpointFile[] = "best.safetensors";

class EarlyStoppingRun {
 public:
  // Without patience, the run never stops early and writes no best.safetensors.
  EarlyStoppingRun(std::optional<std::int64_t> patience, std::filesystem::path best);

  // Rank 0 of a resumed run: observes the rows of the `trainer`'s
  // checkpoint's epochs (metrics_for_checkpoint's, one per epoch, read from
  // `source`), and writes best.safetensors from the trainer when the
  // checkpoint's epoch is the best. Throws std::runtime_error naming source
  // for rows that go on after the stop.
  void resume(const std::vector<EpochMetrics>& rows, const std::string& source,
              vae_trainer* trainer);

  // Rank 0, after an epoch's row and checkpoint: observes the row's test
  // ELBO and saves the trainer as best.safetensors if it improved.
  void after_epoch(const EpochMetrics& row, vae_trainer* trainer);

  // Whether the run has stopped early, on every rank: rank 0 alone observes,
  // and tells the others. Every rank calls it at the same points.
  bool stopped(RankGroup& group) const;

  // Rank 0's line for a run that stopped early: the epoch, the patience,
  // and the best epoch with its ELBO and file.
  std::string stop_line() const;

 private:
  std::optional<EarlyStopping> rule_;
  std::filesystem::path best_;
};

}  // namespace vae_app

#endif  // VAE_APPS_EARLY_STOPPING_RUN_H
