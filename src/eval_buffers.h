// What the backends' evaluation primitives work on (src/evaluation.h): the
// model's parameters as the workspace holds them, and the buffers of the
// evaluation workspace, all in the backend's memory.
#pragma once

#include <cstdint>
#include <vector>

#include "mixture_prior.h"
#include "model_math.h"
#include "parameter_layout.h"

namespace vae {

template <class T>
struct EvalModel {
  const ParameterLayout* layout = nullptr;
  const T* params = nullptr;
  Likelihood likelihood;
  const T* learned_log_variance = nullptr;  // null unless the variance is learned
  MixturePrior<T> prior;                    // components 0: the standard normal
  int64_t dim = 0;
  int64_t latent = 0;
  int64_t condition_dim = 0;                // C: the first layers read [x | c] and [z | c]
};

// R = a plan's row capacity, P = its pairs per chunk, S = the pairs the
// backend decodes at once (its decoder_rows: P on the GPU, a tile per thread
// on the CPU).
template <class T>
struct EvalBuffers {
  T* x = nullptr;                // [R, D] the staged rows
  T* condition = nullptr;        // [R, C] their conditions (C = 0: none)
  T* encoder_input = nullptr;    // [R, D + C] [x | c] (C = 0: none)
  std::vector<T*> enc_out;       // per encoder layer [R, out]; the last is [mu | logvar]
  T* eps = nullptr;              // [S, Z]
  T* z = nullptr;                // [S, Z]
  T* decoder_input = nullptr;    // [S, Z + C] [z | c] (C = 0: none)
  std::vector<T*> dec_out;       // per decoder layer [S, out]; the last is the output
  T* kl_sample = nullptr;        // [P] log q(z|x) - log p(z)
  T* values = nullptr;           // [P] each pair's value (EvalMode)
  T* carry = nullptr;            // [2 kEvalCarry] a cut row's accumulator: into a chunk, out of it
  T* results[3] = {};            // [R] each: the results of the rows done in the chunk
                               // (accumulate_eval_row: out0, out1, out2)
};

}  // namespace vae
