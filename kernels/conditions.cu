// A conditional model's inputs (vae.h, VAE_OPT_CONDITION_DIM): the first
// encoder layer reads [x | c], the first decoder layer [z | c]; these
// kernels write those joined rows, and gather a dataset's conditions (one-hot
// rows of its labels made here, so the labels stay bytes in memory).
#include "conditions.cuh"
#include "launch.cuh"

namespace vae::cuda {
namespace {

// One thread per element of the [rows, left_width + cond_width] output
// (fewer than 2^31 elements: every workspace buffer is, Config::validate).
__global__ void join_condition_kernel(const float* __restrict__ left, int64_t left_width,
                                      const float* __restrict__ cond, int64_t cond_width,
                                      ConditionRows m, uint32_t count, float* __restrict__ out) {
  const uint32_t e = global_index();
  if (e >= count) return;
  const uint32_t width = static_cast<uint32_t>(left_width + cond_width);
  const uint32_t r = e / width;
  out[e] = joined_value(left, left_width, cond, cond_width, m, r, e - r * width);
}

// One thread per element of the [n, width] output. In an epoch the rows come
// from order[epoch->cursor + i], read from the step state when the kernel
// runs (as gather_rows_kernel reads it).
__global__ void gather_conditions_kernel(ConditionSource src, int64_t first, uint32_t count,
                                         const StepState* __restrict__ epoch,
                                         float* __restrict__ out) {
  const uint32_t e = global_index();
  if (e >= count) return;
  const uint32_t width = static_cast<uint32_t>(src.width);
  const uint32_t i = e / width;
  const uint32_t col = e - i * width;
  if (epoch != nullptr) first += epoch->cursor;
  const int64_t row = src.order != nullptr ? src.order[first + i] : first + i;
  out[e] = src.labels != nullptr ? one_hot_value<float>(src.labels[row], col)
                                 : src.floats[row * src.width + col];
}

}  // namespace

cudaError_t launch_join_condition(const float* left, int64_t left_width, const float* cond,
                                  int64_t cond_width, const ConditionRows& m, int64_t rows,
                                  float* out, cudaStream_t stream) {
  const int64_t count = rows * (left_width + cond_width);
  if (count <= 0) return cudaSuccess;
  return launch("join_condition", join_condition_kernel, blocks_for(count), kThreads, stream,
                left, left_width, cond, cond_width, m, static_cast<uint32_t>(count), out);
}

cudaError_t launch_gather_conditions(const ConditionSource& src, int64_t first, int64_t n,
                                     const StepState* epoch, float* out, cudaStream_t stream) {
  const int64_t count = n * src.width;
  if (count <= 0) return cudaSuccess;
  return launch("gather_conditions", gather_conditions_kernel, blocks_for(count), kThreads,
                stream, src, first, static_cast<uint32_t>(count), epoch, out);
}

}  // namespace vae::cuda
