// A training step decided, applied and counted on the device (DESIGN.md
// section 2), so a step needs no host synchronization and can be captured
// into a graph:
//   finite check: bad = [loss or any gradient the step applies is NaN/inf],
//     and in the same pass |g|^2 = sum g^2 (in double);
//   Adam's constants for t = count + 1: step_size = lr_t / (1 - b1^t),
//     bias2_sqrt = sqrt(1 - b2^t), in double as PyTorch computes them, with
//     lr_t the schedule's rate for the steps taken and the clipping factor
//     min(1, c / (|g| + 1e-6)) (kernels/step_state.h);
//   Adam as torch.optim.Adam, one launch over the flat buffers (vae::adam_update):
//     g *= factor;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//     p -= step_size m / (sqrt(v) / bias2_sqrt + eps);
//   the counters: taken (steps, encoder/decoder t) or skipped.
// A bad step leaves parameters and moments untouched: Adam's threads read
// the verdict and return. The rules are kernels/step_state.h's, which the
// CPU backend runs too.
#include <cub/device/device_radix_sort.cuh>

#include "launch.cuh"
#include "permutation.h"
#include "step.cuh"

namespace vae::cuda {
namespace {

// Grid-stride over g; one integer atomicOr per block that saw a non-finite
// loss or a gradient element a step cannot take (usable_gradient: not
// finite, or beyond 2^62, where Adam's moments could overflow); the flag is
// a boolean, so the order of the writes cannot matter. Each block also
// writes its sum of g^2 (double; a usable element's square is at most
// 2^124) to squares[blockIdx.x], in block_sum's fixed order: no atomics, so
// the norm is the same on every run with the same grid.
// The parameter buffers may pass 2^31 elements: 64-bit indices, no division.
__global__ void check_step_kernel(const float* __restrict__ loss, const float* __restrict__ g,
                                  int64_t count, StepState* __restrict__ state,
                                  double* __restrict__ squares) {
  int bad = 0;
  double sum = 0.0;
  if (blockIdx.x == 0 && threadIdx.x == 0) bad = !isfinite(*loss);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = global_index64(); e < count; e += stride) {
    const float x = g[e];
    bad |= !usable_gradient(x);
    sum += static_cast<double>(x) * static_cast<double>(x);
  }
  if (__syncthreads_or(bad) != 0 && threadIdx.x == 0) atomicOr(&state->bad, 1);
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) squares[blockIdx.x] = sum;
}

// One block: the blocks' sums of squares added in a fixed order (thread t
// takes blocks t, t + kThreads, ..., then block_sum), then vae::begin_update
// by thread 0.
__global__ void begin_update_kernel(StepState* state, AdamSettings settings,
                                    const StepSettings* live, const double* __restrict__ squares,
                                    int square_count) {
  double sum = 0.0;
  for (int b = static_cast<int>(threadIdx.x); b < square_count; b += kThreads) sum += squares[b];
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x != 0) return;
  state->grad_sum_squares = sum;
  begin_update(state, live != nullptr ? live->adam : settings);
}

__global__ void adam_kernel(float* __restrict__ p, const float* __restrict__ g,
                            float* __restrict__ m, float* __restrict__ v, int64_t begin,
                            int64_t split, int64_t end, const StepState* __restrict__ state) {
  if (state->bad != 0) return;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = begin + global_index64(); e < end; e += stride) {
    adam_element(state, static_cast<size_t>(split), static_cast<size_t>(e), &p[e], g[e], &m[e],
                 &v[e]);
  }
}

// Adam on the variational parameters of vae_refine_posterior (one element
// per thread, grid-stride): vae::posterior_adam_element with the call's
// constants, independent of the step state.
__global__ void posterior_adam_kernel(float* __restrict__ p, const float* __restrict__ g,
                                      float* __restrict__ m, float* __restrict__ v, int64_t count,
                                      AdamStep constants) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = global_index64(); e < count; e += stride) {
    posterior_adam_element(&p[e], g[e], &m[e], &v[e], constants);
  }
}

__global__ void end_step_kernel(StepState* state, int update, int64_t rows,
                                const float* __restrict__ loss, bool epoch) {
  end_step(state, update, rows, *loss, epoch);
}

__global__ void shuffle_keys_kernel(NoiseKey key, int64_t n, uint64_t* __restrict__ keys,
                                    int64_t* __restrict__ rows) {
  const int64_t i = global_index64();
  if (i >= n) return;
  keys[i] = shuffle_key(key, static_cast<uint64_t>(i));
  rows[i] = i;
}

}  // namespace

unsigned int check_step_blocks(size_t begin, size_t end, int sm_count) {
  const int64_t count = end > begin ? static_cast<int64_t>(end - begin) : 0;
  const unsigned int blocks = grid_stride_blocks(count, sm_count);
  return blocks < kMaxCheckBlocks ? blocks : kMaxCheckBlocks;
}

cudaError_t launch_check_step(const float* loss, const float* g, size_t begin, size_t end,
                              StepState* state, double* squares, int sm_count,
                              cudaStream_t stream) {
  const int64_t count = end > begin ? static_cast<int64_t>(end - begin) : 0;
  return launch("check_step", check_step_kernel, check_step_blocks(begin, end, sm_count),
                kThreads, stream, loss, g + begin, count, state, squares);
}

cudaError_t launch_begin_update(StepState* state, const AdamSettings& settings,
                                const StepSettings* live, const double* squares,
                                unsigned int square_count, cudaStream_t stream) {
  return launch("begin_update", begin_update_kernel, 1, kThreads, stream, state, settings, live,
                squares, static_cast<int>(square_count));
}

cudaError_t launch_adam(float* p, const float* g, float* m, float* v, size_t begin, size_t split,
                        size_t end, const StepState* state, int sm_count, cudaStream_t stream) {
  if (end <= begin) return cudaSuccess;
  const auto first = static_cast<int64_t>(begin);
  const auto last = static_cast<int64_t>(end);
  return launch("adam", adam_kernel, grid_stride_blocks(last - first, sm_count), kThreads, stream,
                p, g, m, v, first, static_cast<int64_t>(split), last, state);
}

cudaError_t launch_posterior_adam(float* p, const float* g, float* m, float* v, int64_t count,
                                  const AdamStep& constants, int sm_count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  return launch("posterior_adam", posterior_adam_kernel, grid_stride_blocks(count, sm_count),
                kThreads, stream, p, g, m, v, count, constants);
}

cudaError_t launch_end_step(StepState* state, int update, int64_t rows, const float* loss,
                            bool epoch, cudaStream_t stream) {
  return launch("end_step", end_step_kernel, 1, 1, stream, state, update, rows, loss, epoch);
}

cudaError_t permutation_scratch_bytes(int64_t n, size_t* bytes) {
  *bytes = 0;
  return cub::DeviceRadixSort::SortPairs(nullptr, *bytes, static_cast<const uint64_t*>(nullptr),
                                         static_cast<uint64_t*>(nullptr),
                                         static_cast<const int64_t*>(nullptr),
                                         static_cast<int64_t*>(nullptr), n);
}

cudaError_t launch_permutation(const NoiseKey& key, int64_t n, uint64_t* keys, int64_t* rows,
                               void* scratch, size_t scratch_bytes, int64_t* order,
                               cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const cudaError_t launched = launch("shuffle_keys", shuffle_keys_kernel, blocks_for(n), kThreads,
                                      stream, key, n, keys, rows);
  if (launched != cudaSuccess) return launched;
  // Stable: equal keys keep their row order, as the host's sort of pairs.
  return cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, keys, keys + n, rows, order, n,
                                         0, 64, stream);
}

}  // namespace vae::cuda
