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
  int64_t cursor;         // rows of this epoch's order already used
  int64_t loss_rows;      // rows of this epoch's taken steps
  double loss_sum;        // sum over this epoch's taken steps of loss * rows
};

// The optimizer's live settings (VAE_OPT_LEARNING_RATE, ADAM_*).
struct AdamSettings {
  double learning_rate, beta1, beta2, epsilon;
};

// The values of a step that live options change: Adam's settings and the KL
// weight (VAE_OPT_KL_WEIGHT). The CUDA backend keeps them in device memory
// and its kernels read them there, so a captured step replays with the
// latest ones (src/cuda/cuda_ops.h); a kernel given none takes its argument.
struct StepSettings {
  AdamSettings adam;
  double beta;
};

// Adam's constants for step t, in double as PyTorch computes them:
// step_size = lr / (1 - b1^t), bias2_sqrt = sqrt(1 - b2^t).
VAE_HD AdamStep adam_constants(const AdamSettings& a, int64_t t) {
  AdamStep s;
  s.beta1 = a.beta1;
  s.beta2 = a.beta2;
  s.epsilon = a.epsilon;
  s.step_size = a.learning_rate / (1.0 - std::pow(a.beta1, static_cast<double>(t)));
  s.bias2_sqrt = std::sqrt(1.0 - std::pow(a.beta2, static_cast<double>(t)));
  return s;
}

// After the finite check: this step's Adam constants (the counters are not
// yet advanced, so t is the count plus one). A step whose input was refused
// is skipped; nothing when the step is skipped.
VAE_HD void begin_update(StepState* s, const AdamSettings& a) {
  if (s->input_refused != 0) s->bad = 1;
  if (s->bad != 0) return;
  s->encoder = adam_constants(a, s->encoder_steps + 1);
  s->decoder = adam_constants(a, s->decoder_steps + 1);
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
