// The span of a long call (an epoch, a dataset evaluation), in which an
// interrupt counts: the trainer's flag is cleared as the call begins and as
// it returns, so vae_interrupt while none runs has no effect (vae.h).
#pragma once

#include <atomic>

namespace vae {

class InterruptWindow {
 public:
  // owns false: a call nested in another's callback (an evaluation in an
  // epoch's progress callback), which checks the flag but leaves it to the
  // call outside it.
  explicit InterruptWindow(std::atomic<bool>* flag, bool owns = true)
      : flag_(owns ? flag : nullptr) {
    if (flag_ != nullptr) flag_->store(false);
  }
  ~InterruptWindow() {
    if (flag_ != nullptr) flag_->store(false);
  }
  InterruptWindow(const InterruptWindow&) = delete;
  InterruptWindow& operator=(const InterruptWindow&) = delete;

 private:
  std::atomic<bool>* flag_;
};

}  // namespace vae
