// Hands out the consecutive buffers of a workspace arena, each starting on a
// multiple of kAlign elements (256 bytes of floats: cuBLASLt's fast kernels
// and vector loads want it), so that the training and the evaluation
// workspaces are laid out by the same rule. With a null base it only counts:
// lay the buffers out once to size the arena, then again over it.
#pragma once

#include <cstddef>

namespace vae {

template <class T>
class WorkspaceCursor {
 public:
  static constexpr size_t kAlign = 64;

  explicit WorkspaceCursor(T* base) : base_(base) {}

  T* take(size_t count) {
    T* p = base_ != nullptr ? base_ + used_ : nullptr;
    used_ += (count + kAlign - 1) / kAlign * kAlign;
    return p;
  }
  // Elements taken so far, padding included.
  size_t used() const { return used_; }

 private:
  T* base_;
  size_t used_ = 0;
};

}  // namespace vae
