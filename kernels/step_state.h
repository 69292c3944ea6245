// The state a training step reads and writes in the backend's own memory (GPU
// memory on the CUDA backend), so that a step needs no value from the host
// and no answer from the device: its noise counter, Adam's step counts and
// bias corrections, the verdict of the finite check, and an epoch's running
// position and loss all live here. A step is then the same sequence of
// launches every time, which is what lets the CUDA backend capture it into a
// graph and replay it (DESIGN.md section 2). Both backends run the same
// functions below, so the CPU tests check the rules the GPU follows.
#pragma once

#include <cmath>
#include <cstdint>

#include "element_math.h"
#include "host_device.h"
#include "vae/vae.h"

namespace vae {

struct StepState {
  int64_t steps;          // steps taken; keys the training noise
  int64_t encoder_steps;  // Adam's t of the encoder's parameters
  int64_t decoder_steps;  // ... and of the decoder's
  int64_t skipped;        // steps skipped: a non-finite loss or gradient
  int32_t bad;            // this step: nonzero when the loss or a gradient is not finite
  int32_t input_refused;  // nonzero when device input was refused (CUDA: checked on the device)
  uint64_t refused_index; // then the least refused element of it
  AdamStep encoder;       // this step's Adam constants for [0, split) ...
  AdamStep decoder;       // ... and for [split, end)
  // Steps shared by ranks (kernels/shared_step.h), counted among `skipped`:
  int64_t disagreed_steps;  // skipped by every rank because the ranks disagreed
  int64_t refused_steps;    // skipped by every rank because a rank refused its part
  int32_t disagreement;     // what the ranks disagreed about in the last such step
  int32_t refusing_ranks;   // how many ranks refused their part of the last such step
  int32_t stop_votes;       // ranks that asked, in the last shared step, to stop the epoch
  int64_t overrun_steps;    // skipped by this rank because its hook wrote past its buffer
  int64_t overrun_float;    // the first guard float after the buffer it wrote, in the last one
  float overrun_value;      // ... and what it wrote there
  double grad_sum_squares;  // this step: the sum of g^2 over the parameters it updates
  double grad_norm;         // the last step's gradient norm, its square root
  int64_t cursor;         // rows of this epoch's order already used
  int64_t loss_rows;      // rows of this epoch's taken steps
  double loss_sum;        // sum over this epoch's taken steps of loss * rows
};

// The optimizer's live settings: Adam's (VAE_OPT_LEARNING_RATE, ADAM_*),
// the learning-rate schedule (VAE_OPT_LR_SCHEDULE, WARMUP_STEPS,
// DECAY_STEPS, FINAL_LEARNING_RATE) and gradient clipping (VAE_OPT_CLIP_NORM;
// 0: none).
struct AdamSettings {
  double learning_rate, beta1, beta2, epsilon;
  int schedule = VAE_SCHEDULE_CONSTANT;
  int64_t warmup_steps = 0, decay_steps = 0;
  double final_learning_rate = 0.0;
  double clip_norm = 0.0;
};

inline bool operator==(const AdamSettings& a, const AdamSettings& b) {
  return a.learning_rate == b.learning_rate && a.beta1 == b.beta1 && a.beta2 == b.beta2 &&
         a.epsilon == b.epsilon && a.schedule == b.schedule && a.warmup_steps == b.warmup_steps &&
         a.decay_steps == b.decay_steps && a.final_learning_rate == b.final_learning_rate &&
         a.clip_norm == b.clip_norm;
}

// The values of a step that live options change: Adam's settings and the KL
// weight (VAE_OPT_KL_WEIGHT). The CUDA backend keeps them in device memory
// and its kernels read them there, so a captured step replays with the
// latest ones (src/cuda/cuda_ops.h); a kernel given none takes its argument.
struct StepSettings {
  AdamSettings adam;
  double beta;
};

// Adam's constants for Adam's step t at learning rate `rate`, in double as
// PyTorch computes them: step_size = rate / (1 - b1^t), bias2_sqrt =
// sqrt(1 - b2^t); the gradient scaled by grad_scale.
VAE_HD AdamStep adam_constants(const AdamSettings& a, int64_t t, double rate,
                               double grad_scale) {
  AdamStep s;
  s.beta1 = a.beta1;
  s.beta2 = a.beta2;
  s.epsilon = a.epsilon;
  s.step_size = rate / (1.0 - std::pow(a.beta1, static_cast<double>(t)));
  s.bias2_sqrt = std::sqrt(1.0 - std::pow(a.beta2, static_cast<double>(t)));
  s.grad_scale = grad_scale;
  return s;
}

// ... at the settings' own rate, unclipped.
VAE_HD AdamStep adam_constants(const AdamSettings& a, int64_t t) {
  return adam_constants(a, t, a.learning_rate, 1.0);
}

// The learning rate of the step taken after `t` steps (vae.h,
// VAE_OPT_LR_SCHEDULE): a linear warm-up over W steps, lr (t + 1) / W, then
// with p = min((t - W) / D, 1) the schedule's decay from lr to final:
// constant, lr + (final - lr) p, or final + (lr - final) (1 + cos(pi p)) / 2.
// In double, from integers below 2^56, so t, W and D are exact.
VAE_HD double scheduled_learning_rate(const AdamSettings& a, int64_t t) {
  const double lr = a.learning_rate;
  if (t < a.warmup_steps) {
    return lr * static_cast<double>(t + 1) / static_cast<double>(a.warmup_steps);
  }
  if (a.schedule == VAE_SCHEDULE_CONSTANT || a.decay_steps <= 0) return lr;
  const double final_rate = a.final_learning_rate;
  if (t - a.warmup_steps >= a.decay_steps) return final_rate;  // exactly, once decayed
  const double p = static_cast<double>(t - a.warmup_steps) / static_cast<double>(a.decay_steps);
  if (a.schedule == VAE_SCHEDULE_LINEAR) return lr + (final_rate - lr) * p;
  constexpr double kPi = 3.14159265358979323846;
  return final_rate + (lr - final_rate) * (1.0 + std::cos(kPi * p)) / 2.0;
}

// The factor gradient clipping multiplies the gradient by, as
// torch.nn.utils.clip_grad_norm_: min(1, c / (norm + 1e-6)) for a limit c
// > 0; 1 without one.
VAE_HD double clip_factor(double clip_norm, double norm) {
  if (!(clip_norm > 0.0)) return 1.0;
  const double factor = clip_norm / (norm + 1e-6);
  return factor < 1.0 ? factor : 1.0;
}

// After the finite check, which left the gradient's sum of squares in
// grad_sum_squares: its norm, and this step's Adam constants (the counters
// are not yet advanced, so Adam's t is the count plus one) at the
// schedule's rate for the steps taken, with the clipping factor. A step
// whose input was refused is skipped; no constants when the step is skipped.
VAE_HD void begin_update(StepState* s, const AdamSettings& a) {
  s->grad_norm = std::sqrt(s->grad_sum_squares);
  if (s->input_refused != 0) s->bad = 1;
  if (s->bad != 0) return;
  const double rate = scheduled_learning_rate(a, s->steps);
  const double factor = clip_factor(a.clip_norm, s->grad_norm);
  s->encoder = adam_constants(a, s->encoder_steps + 1, rate, factor);
  s->decoder = adam_constants(a, s->decoder_steps + 1, rate, factor);
}

// Adam for element e of the flat buffers: the encoder's constants below
// split, the decoder's from split on. Nothing when the step is skipped.
template <class T>
VAE_HD void adam_element(const StepState* s, size_t split, size_t e, T* p, T g, T* m, T* v) {
  if (s->bad != 0) return;
  adam_update(p, g, m, v, e < split ? s->encoder : s->decoder);
}

// Adam on one variational parameter of the non-amortized E-step
// (vae_refine_posterior), with that call's own constants, not the trainer's:
// adam_update, except that an element whose gradient a step cannot take
// (usable_gradient) keeps its value and moments.
template <class T>
VAE_HD void posterior_adam_element(T* p, T g, T* m, T* v, const AdamStep& s) {
  if (usable_gradient(g)) adam_update(p, g, m, v, s);
}

// The end of a step of `rows` rows whose mean loss is `loss`: counts it as
// taken (advancing the counters its update mode moves) or skipped; a step of
// an epoch also moves the epoch's position past its rows either way, and
// adds a taken step's loss to the epoch's sums.
VAE_HD void end_step(StepState* s, int update, int64_t rows, float loss, bool epoch) {
  if (epoch) s->cursor += rows;
  if (s->bad != 0) {
    ++s->skipped;
    return;
  }
  ++s->steps;
  if (update != VAE_UPDATE_DECODER) ++s->encoder_steps;
  if (update != VAE_UPDATE_ENCODER) ++s->decoder_steps;
  if (epoch) {
    s->loss_sum += static_cast<double>(loss) * static_cast<double>(rows);
    s->loss_rows += rows;
  }
}

}  // namespace vae
