// How the long calls of Trainer stop at vae_interrupt (vae.h): what an
// interrupted epoch leaves, and the messages.
#include "error.h"
#include "trainer.h"

namespace vae {

void Trainer::stop_if_interrupted(const char* call, int64_t done, int64_t total,
                                  bool rows_written) const {
  if (!interrupt_requested_.load(std::memory_order_relaxed)) return;
  MessageStream m;
  m << call << ": interrupted by vae_interrupt after " << done << " of " << total
    << " rows; nothing changed"
    << (rows_written ? " (the outputs of the rows done are written)" : " and no output was written");
  fail(VAE_ERROR_INTERRUPTED, m.str());
}

bool Trainer::epoch_interrupted() const {
  return interrupt_requested_.load(std::memory_order_relaxed);
}

void Trainer::stop_epoch(int64_t step, int64_t steps, const std::string& where) {
  // The steps queued so far complete; the epoch's position and loss sums
  // go back to a clean start.
  StepState s = read_step_state();
  s.cursor = 0;
  s.loss_rows = 0;
  s.loss_sum = 0;
  write_step_state(s);
  MessageStream m;
  m << "vae_train_epoch: interrupted by vae_interrupt" << where << " before step " << step + 1 << " of "
    << steps << "; the " << step << " steps before it ran and stay (VAE_OPT_STEPS is "
    << s.steps << "), the epoch was not counted (VAE_OPT_EPOCHS is " << epochs_
    << ") and the next one starts from its beginning";
  fail(VAE_ERROR_INTERRUPTED, m.str());
}

}  // namespace vae
