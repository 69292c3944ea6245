// Launchers of the kernels that decide, apply and count a training step on
// the device (kernels/step.cu), over the step state of kernels/step_state.h,
// and of the epoch's permutation. Each enqueues its work on `stream` and
// returns the first error; nothing waits for the device.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "philox.h"
#include "step_state.h"

namespace vae::cuda {

// The most blocks of the finite check: its sums of squares take as many
// doubles of scratch.
constexpr unsigned int kMaxCheckBlocks = 4096;
// The blocks of the finite check of g[begin, end) on a device of sm_count
// multiprocessors: one sum of squares each.
unsigned int check_step_blocks(size_t begin, size_t end, int sm_count);
// state->bad |= 1 when *loss or any of g[begin, end) is NaN or infinite;
// squares[b] = block b's sum of g^2 (check_step_blocks of them).
cudaError_t launch_check_step(const float* loss, const float* g, size_t begin, size_t end,
                              StepState* state, double* squares, int sm_count,
                              cudaStream_t stream);
// state->grad_sum_squares = the sum of squares[0, square_count) in a fixed
// order, then vae::begin_update on the device (one block).
// Adam's settings are live->adam when live is not null, else `settings`.
cudaError_t launch_begin_update(StepState* state, const AdamSettings& settings,
                                const StepSettings* live, const double* squares,
                                unsigned int square_count, cudaStream_t stream);
// Adam over the flat buffers' [begin, end), the encoder's constants below
// split (vae::adam_element); nothing when the step is bad. One launch.
cudaError_t launch_adam(float* p, const float* g, float* m, float* v, size_t begin, size_t split,
                        size_t end, const StepState* state, int sm_count, cudaStream_t stream);
// vae::posterior_adam_element over count elements of the non-amortized
// E-step's variational parameters, with the call's own constants.
cudaError_t launch_posterior_adam(float* p, const float* g, float* m, float* v, int64_t count,
                                  const AdamStep& constants, int sm_count, cudaStream_t stream);
// vae::end_step on the device (one thread), the loss read from *loss.
cudaError_t launch_end_step(StepState* state, int update, int64_t rows, const float* loss,
                            bool epoch, cudaStream_t stream);

// The temporary storage the permutation of an n-row dataset needs.
cudaError_t permutation_scratch_bytes(int64_t n, size_t* bytes);
// order[0..n) = vae::epoch_permutation(key, n) (kernels/permutation.h):
// sort keys drawn by a kernel, then a stable radix sort of (key, row) pairs.
// keys holds 2n, rows n values; scratch holds permutation_scratch_bytes(n).
cudaError_t launch_permutation(const NoiseKey& key, int64_t n, uint64_t* keys, int64_t* rows,
                               void* scratch, size_t scratch_bytes, int64_t* order,
                               cudaStream_t stream);

}  // namespace vae::cuda
