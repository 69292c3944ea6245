// The trainer's side of steps that ranks share (vae_set_allreduce): which
// calls share steps, each rank's part of a step and what the ranks vote on,
// and the report when they disagree. The step itself, the hook's call
// included, is TrainerImpl::enqueue_shared_step.
#include <sstream>
#include <string>

#include "error.h"
#include "step_vote.h"
#include "trainer.h"

namespace vae {
namespace {

// The words for the bits of StepState::disagreement.
std::string disagreement_text(int32_t d, int64_t world) {
  MessageStream m;
  const char* separator = "";
  const auto add = [&](int32_t bit, const std::string& text) {
    if ((d & bit) == 0) return;
    m << separator << text;
    separator = ", ";
  };
  add(kDisagreeLayout, "the step's layout (row counts, dataset size, batch, world size)");
  add(kDisagreeCounters, "their step, Adam or epoch counters");
  add(kDisagreeOptions,
      "their training options (model, seed, learning rate, Adam, KL weight, objective, update)");
  add(kDisagreeRanks, "how many ranks take part (VAE_OPT_WORLD_SIZE is " +
                          std::to_string(world) + " here)");
  add(kDisagreeRows, "how many rows the batch has");
  add(kDisagreeSums, "the allreduce hook's sums (counts that are not whole numbers: the hook "
                     "must sum the buffer, alike on every rank)");
  return m.str();
}

}  // namespace

void Trainer::set_allreduce(vae_allreduce_fn fn, void* user_data) {
  check_not_in_epoch("vae_set_allreduce");
  allreduce_.set(fn, user_data);
}

bool Trainer::shares_steps(const char* call) const {
  if (allreduce_.is_set()) return true;
  if (config_.world_size > 1) {
    invalid_argument(std::string(call) + ": VAE_OPT_WORLD_SIZE is " +
                     std::to_string(config_.world_size) +
                     " but no allreduce hook is set; give one with vae_set_allreduce (the "
                     "vae_mpi and vae_nccl adapters supply them)");
  }
  return false;
}

std::exception_ptr Trainer::plan_shared_step(const float* x, int64_t n, StepPlan* plan) const {
  plan->shared = true;
  plan->world = config_.world_size;
  plan->vote = step_vote(config_, epochs_,
                         {static_cast<int64_t>(StepKind::kTrainStep), config_.world_size, n});
  try {
    check_pointer(x, "x");
    check_rows(n, config_.max_batch, "n");
  } catch (const Error&) {
    plan->refused = true;
    return std::current_exception();
  }
  plan->x = x;
  plan->rows = n;
  plan->share.first = config_.rank * n;
  plan->share.rows = n;
  plan->share.batch = config_.world_size * n;
  return nullptr;
}

void Trainer::plan_epoch_step(const Dataset& ds, int64_t batch, int64_t step, int64_t rows,
                              int64_t world, StepPlan* plan) const {
  plan->shared = true;
  plan->world = world;
  plan->share = share_of_batch(rows, config_.rank, world);
  plan->rows = plan->share.rows;
  plan->vote = step_vote(config_, epochs_,
                         {static_cast<int64_t>(StepKind::kEpochStep), world, ds.rows, ds.dim,
                          ds.bytes ? 1 : 0, static_cast<int64_t>(ds.transform), batch, step});
}

void Trainer::report_disagreement(const StepState& s, const std::string& what) {
  const int64_t disagreed = s.disagreed_steps - reported_disagreed_;
  if (disagreed <= 0) return;
  const int64_t others = s.skipped - reported_skipped_ - disagreed;
  MessageStream m;
  m << what << ": " << disagreed << " step" << (disagreed == 1 ? "" : "s")
    << " shared with other ranks " << (disagreed == 1 ? "was" : "were")
    << " skipped by every rank because the ranks disagree about "
    << disagreement_text(s.disagreement, config_.world_size)
    << "; every rank must make the same training calls, with the same row counts, on trainers "
       "of the same configuration and state";
  if (others > 0) m << " (and " << others << " more steps were skipped since the last report)";
  m << "; VAE_OPT_SKIPPED_STEPS is " << s.skipped;
  const std::string message = m.str();
  note_reported(s);
  invalid_argument(message);
}

}  // namespace vae
