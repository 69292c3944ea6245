// The allreduce hook of an API program (vae_set_allreduce): a hook that
// sums, doubles, fails with any status and message, poisons a float,
// garbles the tail, writes past its buffer or calls its own trainer, as
// one rank of world size 1 or of ranks that all do alike. ApiSession::check
// holds the steps it shares to vae.h's contract.
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "api_session.h"

namespace vae_fuzz {

// A call on the hook's own trainer, whose step is running: refused, and the
// trainer stays alive (vae.h, vae_set_allreduce).
void ApiSession::reenter(const HookLog& hook, std::size_t which) {
  vae_trainer* t = hook.trainer;
  const std::vector<float> x(static_cast<std::size_t>(hook.dim), 0.0f);
  vae_status status = VAE_OK;
  switch (which % 5) {
    case 0: status = vae_train_step(t, x.data(), 1, nullptr); break;
    case 1: status = vae_set_float(t, VAE_OPT_LEARNING_RATE, 0.5); break;
    case 2: status = vae_set_allreduce(t, nullptr, nullptr); break;
    case 3: {
      std::vector<float> mean(static_cast<std::size_t>(hook.dim));
      status = vae_sample(t, 1, mean.data());
      break;
    }
    default:
      vae_destroy(t);  // refused: it returns nothing, and t must stay alive
      status = *vae_last_error() != '\0' ? VAE_ERROR_INVALID_ARGUMENT : VAE_OK;
      break;
  }
  require(status == VAE_ERROR_INVALID_ARGUMENT,
          std::string("a call on the trainer from its own allreduce hook was not refused: ") +
              vae_last_error());
}

int ApiSession::run_hook(void* log, float* buffer, int64_t count, int on_device, void* stream,
                         char* message, size_t message_size) {
  auto* hook = static_cast<HookLog*>(log);
  require(buffer != nullptr && count > 128 && on_device == 0 && stream == nullptr &&
              message != nullptr && message_size > 1,
          "the allreduce hook was called with a buffer of " + std::to_string(count) +
              " floats, on_device " + std::to_string(on_device));
  const std::size_t at = hook->position % static_cast<std::size_t>(count);
  switch (hook->behaviour) {
    case Hook::kSum: break;
    case Hook::kDouble:
      for (int64_t i = 0; i < count; ++i) buffer[i] *= 2.0f;
      break;
    case Hook::kFail:
      if (hook->message == 1) std::snprintf(message, message_size, "the wire is cut");
      if (hook->message == 2) std::memset(message, 'x', message_size);
      break;
    case Hook::kPoison: buffer[at] = hook->value; break;
    case Hook::kGarbageTail:
      buffer[count - 128 + static_cast<int64_t>(at % 128)] = hook->value;
      hook->garbled_stop = hook->garbled_stop || at % 128 == kStopSlot;
      break;
    case Hook::kOverrun:
      // Into the guard after the buffer (kHookGuardFloats = 32 floats).
      buffer[count + static_cast<int64_t>(at % 32)] = hook->value;
      hook->overran = true;
      break;
    case Hook::kReenter: reenter(*hook, at); break;
    case Hook::kCount: break;
  }
  hook->last_status = hook->behaviour == Hook::kFail ? hook->status : VAE_OK;
  return hook->last_status;
}

// Sets a hook of some behaviour, or none; the hook changes nothing until a
// step calls it.
ApiSession::Outcome ApiSession::set_allreduce() {
  Outcome o;
  const auto behaviour = program_.choice(static_cast<std::size_t>(Hook::kCount) + 1);
  const int statuses[] = {VAE_ERROR_INVALID_ARGUMENT, VAE_ERROR_OUT_OF_MEMORY, VAE_ERROR_DEVICE,
                          VAE_ERROR_IO, VAE_ERROR_NUMERICAL, VAE_ERROR_INTERNAL,
                          VAE_ERROR_INTERRUPTED, 42, -1};
  HookLog hook;
  hook.behaviour = static_cast<Hook>(behaviour % static_cast<std::size_t>(Hook::kCount));
  hook.status = statuses[program_.choice(std::size(statuses))];
  hook.message = static_cast<int>(program_.choice(3));
  hook.position = std::size_t{program_.byte()} << 8 | program_.byte();
  hook.value = kSpecialFloats[program_.choice(std::size(kSpecialFloats))];
  hook.trainer = t_;
  hook.dim = dim_;
  const bool none = behaviour == static_cast<std::size_t>(Hook::kCount);
  const unsigned nulls = program_.null_mask();
  o.status = vae_set_allreduce(unless(nulls, 0, t_), none ? nullptr : &ApiSession::run_hook, &hook_);
  if (o.status == VAE_OK) {
    hook_ = hook;
    hook_set_ = !none;
  }
  return o;
}

}  // namespace vae_fuzz
