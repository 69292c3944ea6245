// The rule of vae-train --patience N: after each epoch the validation ELBO
// (the test ELBO of metrics.csv) is observed; the run stops once N epochs in
// a row have not improved on the best so far.
//
// An epoch improves when its ELBO is strictly greater than the best so far:
// a tie is no improvement, so the best epoch is the first to reach the best
// value. NaN never improves (it compares false), and the first ELBO that is
// not NaN is an improvement over none. The rule holds only numbers, so a
// resumed run rebuilds it exactly by observing metrics.csv's rows again.
#ifndef VAE_APPS_EARLY_STOPPING_H
#define VAE_APPS_EARLY_STOPPING_H

#include <cstdint>

namespace vae_app {

class EarlyStopping {
 public:
  // What one epoch's ELBO means for the run.
  enum class Verdict {
    improved,  // a new best: keep this epoch's model
    waiting,   // no improvement, fewer than patience epochs in a row
    stop,      // patience epochs in a row without improvement: the run ends
  };

  // patience >= 1; throws std::invalid_argument otherwise.
  explicit EarlyStopping(std::int64_t patience);

  // The ELBO of `epoch` (1-based, each epoch once, in order; throws
  // std::logic_error for an epoch out of order or one after a stop).
  Verdict observe(std::int64_t epoch, double elbo);

  std::int64_t patience() const { return patience_; }
  // The epoch of the best ELBO so far; 0 while none improved.
  std::int64_t best_epoch() const { return best_epoch_; }
  // Its ELBO (meaningless while best_epoch() is 0).
  double best_elbo() const { return best_elbo_; }
  // Epochs since the best one (all epochs observed while none improved).
  std::int64_t epochs_without_improvement() const { return last_epoch_ - best_epoch_; }
  // The last epoch observed; 0 before any.
  std::int64_t last_epoch() const { return last_epoch_; }
  // Whether the last observation said stop.
  bool stopped() const { return epochs_without_improvement() >= patience_; }

 private:
  std::int64_t patience_;
  std::int64_t last_epoch_ = 0;
  std::int64_t best_epoch_ = 0;
  double best_elbo_ = 0.0;
};

}  // namespace vae_app

#endif  // VAE_APPS_EARLY_STOPPING_H
