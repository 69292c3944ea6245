// The trainer's side of steps that ranks share (vae_set_allreduce): which
// calls share steps, and each rank's part of a step and what the ranks vote
// on. The step itself, the hook's call included, is
// TrainerImpl::enqueue_shared_step; the report when the ranks disagree is in
// trainer_reports.cpp.
#include <string>

#include "error.h"
#include "step_vote.h"
#include "trainer.h"

namespace vae {

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

std::exception_ptr Trainer::plan_shared_step(const float* x, const float* condition, int64_t n,
                                             StepPlan* plan) const {
  plan->shared = true;
  plan->world = config_.world_size;
  plan->vote = step_vote(config_, epochs_,
                         {static_cast<int64_t>(StepKind::kTrainStep), config_.world_size, n});
  try {
    check_pointer(x, "x");
    check_condition(condition, "vae_train_step");
    check_rows(n, config_.max_batch, "n");
  } catch (const Error&) {
    plan->refused = true;
    return std::current_exception();
  }
  plan->x = x;
  plan->condition = condition;
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

}  // namespace vae
