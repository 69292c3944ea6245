#include "early_stopping.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace vae_app {

EarlyStopping::EarlyStopping(std::int64_t patience) : patience_(patience) {
  if (patience < 1) {
    throw std::invalid_argument("EarlyStopping: patience " + std::to_string(patience) +
                                " is below 1");
  }
}

EarlyStopping::Verdict EarlyStopping::observe(std::int64_t epoch, double elbo) {
  if (stopped()) {
    throw std::logic_error("EarlyStopping: epoch " + std::to_string(epoch) +
                           " observed after the stop at epoch " + std::to_string(last_epoch_));
  }
  if (epoch != last_epoch_ + 1) {
    throw std::logic_error("EarlyStopping: epoch " + std::to_string(epoch) + " observed after " +
                           std::to_string(last_epoch_));
  }
  last_epoch_ = epoch;
  // NaN never improves, not even on none.
  const bool improved = !std::isnan(elbo) && (best_epoch_ == 0 || elbo > best_elbo_);
  if (improved) {
    best_epoch_ = epoch;
    best_elbo_ = elbo;
    return Verdict::improved;
  }
  return stopped() ? Verdict::stop : Verdict::waiting;
}

}  // namespace vae_app
