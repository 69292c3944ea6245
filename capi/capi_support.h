// What the C API's files share: the handles behind the opaque types, the
// exception-to-status mapping with this thread's error message, and the
// checks of handles. No exception crosses a C API function.
#pragma once

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "config.h"
#include "dataset.h"
#include "error.h"
#include "trainer.h"
#include "vae/vae.h"

struct vae_config {
  vae::Config config;
  // The options set on it (vae_load_config takes those it may).
  std::vector<int> set_options;
};

struct vae_trainer {
  std::unique_ptr<vae::Trainer> impl;
};

struct vae_dataset {
  std::unique_ptr<vae::Dataset> impl;
};

namespace vae_capi {

inline thread_local std::string last_error;

// Keeps prefix + message as this thread's error message and returns status.
// Where even the message cannot be allocated, the call ran out of memory:
// the message becomes one short enough for std::string's inline buffer, so
// storing it allocates nothing.
inline vae_status report(vae_status status, const char* prefix, const char* message) noexcept {
  try {
    last_error.assign(prefix).append(message);
    return status;
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
    return VAE_ERROR_OUT_OF_MEMORY;
  }
}

// Runs f, mapping what it throws to a status and the thread's message.
template <class F>
vae_status guarded(F&& f) noexcept {
  try {
    f();
    last_error.clear();
    return VAE_OK;
  } catch (const vae::Error& e) {
    return report(e.status(), "", e.what());
  } catch (const std::bad_alloc&) {
    return report(VAE_ERROR_OUT_OF_MEMORY, "", "out of host memory");
  } catch (const std::exception& e) {
    return report(VAE_ERROR_INTERNAL, "internal error: ", e.what());
  } catch (...) {
    return report(VAE_ERROR_INTERNAL, "internal error: unknown exception", "");
  }
}

template <class P>
P* require(P* p, const char* name) {
  if (p == nullptr) vae::invalid_argument(std::string(name) + ": NULL");
  return p;
}

inline vae::Trainer& trainer(const vae_trainer* t) { return *require(t, "t")->impl; }

// The trainer of a call that the allreduce hook of its running step may not
// make (vae.h, vae_set_allreduce).
inline vae::Trainer& idle_trainer(const vae_trainer* t, const char* call) {
  vae::Trainer& impl = trainer(t);
  impl.check_not_in_hook(call);
  return impl;
}

// The trainers whose calls are running on this thread, innermost first: a
// list of nodes on the stack of those calls (RunningCall), so that keeping
// it allocates nothing. Only the calls that run the caller's code (the
// allreduce hook, a progress callback) join it.
struct RunningCall {
  explicit RunningCall(const vae_trainer* t) : trainer(t), outer(innermost) { innermost = this; }
  ~RunningCall() { innermost = outer; }
  RunningCall(const RunningCall&) = delete;
  RunningCall& operator=(const RunningCall&) = delete;

  const vae_trainer* trainer;
  RunningCall* outer;
  static inline thread_local RunningCall* innermost = nullptr;
};

// The trainer whose call runs on this thread and is `owner` (compared as
// pointers: a dataset's owner may be gone when the caller broke the rule that
// datasets go first), or null.
inline const vae::Trainer* running(const vae::Trainer* owner) noexcept {
  for (const RunningCall* c = RunningCall::innermost; c != nullptr; c = c->outer) {
    if (c->trainer != nullptr && c->trainer->impl.get() == owner) return owner;
  }
  return nullptr;
}

// Whether `call` (vae_destroy, vae_dataset_destroy) must do nothing, the
// trainer `owner` running the caller's code on this thread: the caller's
// message then says so.
inline bool refuse_destroy(const vae::Trainer* owner, const char* call) noexcept {
  const vae::Trainer* t = running(owner);
  const char* from = t != nullptr ? t->callback_running() : nullptr;
  if (from == nullptr) return false;
  try {
    last_error.assign(call)
        .append(": called from ")
        .append(from)
        .append(" of the trainer's call in progress, which uses it; nothing was destroyed "
                "(destroy it once the call returns)");
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
  }
  return true;
}

inline vae::Dataset& dataset(vae_dataset* ds) { return *require(ds, "ds")->impl; }

// vae_refine_posterior's settings from options, after the checks of
// options and out that need the C types.
inline vae::RefineSettings refine_settings(const vae_refine_options* options,
                                           const vae_refine_rows* out) {
  const vae_refine_options& o = *require(options, "options");
  const vae_refine_rows& rows = *require(out, "out");
  if (o.size != sizeof(vae_refine_options)) {
    vae::invalid_argument("options->size: " + std::to_string(o.size) +
                          " is not the size of a vae_refine_options this library knows (" +
                          std::to_string(sizeof(vae_refine_options)) +
                          "; vae_refine_options_init sets it)");
  }
  if (rows.size != sizeof(vae_refine_rows)) {
    vae::invalid_argument("out->size: " + std::to_string(rows.size) +
                          " is not the size of a vae_refine_rows this library knows (" +
                          std::to_string(sizeof(vae_refine_rows)) + ")");
  }
  if (rows.mu == nullptr && rows.logvar == nullptr && rows.elbo_encoder == nullptr &&
      rows.elbo_refined == nullptr) {
    vae::invalid_argument("out: every output is NULL");
  }
  vae::RefineSettings s;
  s.steps = o.steps;
  s.samples = o.samples;
  s.elbo_samples = o.elbo_samples;
  s.learning_rate = o.learning_rate;
  return s;
}

}  // namespace vae_capi
