#include "early_stopping_run.h"

#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "vae_handles.h"

namespace vae_app {

EarlyStoppingRun::EarlyStoppingRun(std::optional<std::int64_t> patience, std::filesystem::path best)
    : best_(std::move(best)) {
  if (patience) rule_.emplace(*patience);
}

void EarlyStoppingRun::resume(const std::vector<EpochMetrics>& rows, const std::string& source,
                              vae_trainer* trainer) {
  if (!rule_) return;
  for (const EpochMetrics& row : rows) {
    if (rule_->stopped()) {
      throw std::runtime_error(source + ": with --patience " + std::to_string(rule_->patience()) +
                               " the run stops after epoch " + std::to_string(rule_->last_epoch()) +
                               ", but the file goes on to epoch " +
                               std::to_string(rows.back().epoch));
    }
    rule_->observe(row.epoch, row.test_elbo);
  }
  if (rule_->best_epoch() == 0) return;
  if (rule_->best_epoch() == rule_->last_epoch()) {
    // The checkpoint is the best: best.safetensors may not have been
    // written after it (a kill between the two), so write it again.
    check(vae_save(trainer, best_.c_str()), "vae_save(" + best_.string() + ")");
    return;
  }
  std::error_code error;
  if (!std::filesystem::exists(best_, error)) {
    std::fflush(stdout);
    std::fprintf(stderr,
                 "vae-train: warning: %s, the model of epoch %lld (the best), is missing: it "
                 "is written again at the next improvement\n",
                 best_.c_str(), static_cast<long long>(rule_->best_epoch()));
  }
}

void EarlyStoppingRun::after_epoch(const EpochMetrics& row, vae_trainer* trainer) {
  if (!rule_) return;
  if (rule_->observe(row.epoch, as_written(row.test_elbo)) == EarlyStopping::Verdict::improved) {
    check(vae_save(trainer, best_.c_str()), "vae_save(" + best_.string() + ")");
  }
}

bool EarlyStoppingRun::stopped(RankGroup& group) const {
  if (!rule_) return false;
  return group.leader_decides(group.rank() == 0 && rule_->stopped());
}

std::string EarlyStoppingRun::stop_line() const {
  if (!rule_ || !rule_->stopped()) return "";
  const std::string head = "early stop after epoch " + std::to_string(rule_->last_epoch()) + ": ";
  const std::string patience = "(--patience " + std::to_string(rule_->patience()) + ")";
  if (rule_->best_epoch() == 0) {
    return head + "no test ELBO in " + std::to_string(rule_->last_epoch()) +
           " epoch(s) was a number " + patience + "; there is no " + kBestCheckpointFile;
  }
  char elbo[32];
  std::snprintf(elbo, sizeof elbo, "%.9g", rule_->best_elbo());  // as metrics.csv holds it
  return head + "the test ELBO has not improved for " +
         std::to_string(rule_->epochs_without_improvement()) + " epoch(s) " + patience +
         "; the best, " + elbo + " nats, is epoch " + std::to_string(rule_->best_epoch()) +
         "'s, in " + best_.string();
}

}  // namespace vae_app
