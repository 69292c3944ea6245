// How a trainer reports the steps it skipped (vae.h, vae_train_step): the
// calls that wait for the step state name the skipped steps since the last
// report, why they were skipped (a loss or gradient that was not finite, a
// rank that refused its part, ranks that disagree about the step) and the
// status that says so.
#include <sstream>
#include <string>

#include "error.h"
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

void Trainer::note_reported(const StepState& s) {
  reported_skipped_ = s.skipped;
  reported_disagreed_ = s.disagreed_steps;
  reported_refused_ = s.refused_steps;
  reported_overrun_ = s.overrun_steps;
}

void Trainer::report_skipped(const StepState& s, const char* what, int64_t epoch_steps) {
  const int64_t skipped = s.skipped - reported_skipped_;
  if (skipped <= 0) return;  // nothing to say, and nothing allocated
  MessageStream m;
  if (epoch_steps > 0) {
    m << "epoch " << epochs_ - 1 << " (" << epoch_steps << " steps; the others were taken and the "
      << "epoch counted)";
  } else {
    m << what;
  }
  report_overrun(s, m.str());
  report_disagreement(s, m.str());
  const int64_t refused = s.refused_steps - reported_refused_;
  m << ": " << skipped << " step" << (skipped == 1 ? "" : "s")
    << " since the last report had a loss or gradient that was not finite (or input in device "
       "memory that the input rule refuses) and changed nothing (check the input, or lower the "
       "learning rate)";
  if (refused > 0) {
    m << "; " << refused << " of them shared with other ranks, skipped by every rank because "
      << s.refusing_ranks << " rank" << (s.refusing_ranks == 1 ? "" : "s")
      << " refused its part (its input or arguments: see that rank's error)";
  }
  m << "; VAE_OPT_SKIPPED_STEPS is " << s.skipped;
  const std::string message = m.str();
  note_reported(s);
  fail(VAE_ERROR_NUMERICAL, message);
}

// Steps the CUDA backend skipped because the allreduce hook wrote into the
// guard after its buffer (kernels/shared_step.h): VAE_ERROR_DEVICE, as the
// CPU backend reports such a step when it happens.
void Trainer::report_overrun(const StepState& s, const std::string& what) {
  const int64_t overruns = s.overrun_steps - reported_overrun_;
  if (overruns <= 0) return;
  const int64_t others = s.skipped - reported_skipped_ - overruns;
  MessageStream m;
  m << what << ": " << overruns << " step" << (overruns == 1 ? "" : "s")
    << " skipped because the allreduce hook wrote past the end of its buffer (in the last, float "
    << s.overrun_float << " after the buffer became " << s.overrun_value
    << "); a skipped step changed no parameter or moment";
  if (others > 0) m << " (and " << others << " more steps were skipped since the last report)";
  m << "; VAE_OPT_SKIPPED_STEPS is " << s.skipped;
  const std::string message = m.str();
  note_reported(s);
  fail(VAE_ERROR_DEVICE, message);
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
