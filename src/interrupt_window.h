// The span of a long call (an epoch, a dataset evaluation), in which an
// interrupt counts: the trainer's flag is cleared as the call begins and as
// it returns, so vae_interrupt while none runs has no effect (vae.h).
#pragma once

#include <atomic>

namespace vae {

class InterruptWindow {
 public:
  explicit InterruptWindow(std::atomic<bool>* flag) : flag_(flag) { flag_->store(false); }
  ~InterruptWindow() { flag_->store(false); }
  InterruptWindow(const InterruptWindow&) = delete;
  InterruptWindow& operator=(const InterruptWindow&) = delete;

 private:
  std::atomic<bool>* flag_;
};

}  // namespace vae
