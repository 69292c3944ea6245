// A shared step's tail on the device (kernels/shared_step.h): written before
// the allreduce hook sums it with the gradient, read after. One thread each
// (the tail is 128 floats), but for the loss sum.
#include "launch.cuh"
#include "reductions.cuh"
#include "shared_step.cuh"

namespace vae::cuda {
namespace {

__global__ void write_share_tail_kernel(int64_t rows, bool refused, bool stop, StepVote vote,
                                        const StepState* __restrict__ state,
                                        float* __restrict__ tail) {
  write_share_tail(tail, rows, refused, stop, vote, *state);
}

__global__ void accept_share_tail_kernel(StepState* state, const float* __restrict__ tail,
                                         int64_t world, int64_t batch_rows,
                                         float* __restrict__ loss) {
  accept_share_tail(state, tail, world, batch_rows, loss);
}

}  // namespace

cudaError_t launch_write_share_tail(const float* row_loss, int64_t n, bool refused, bool stop,
                                    const StepVote& vote, const StepState* state, float* tail,
                                    cudaStream_t stream) {
  const cudaError_t summed = launch_sum(row_loss, n, 1.0f, tail + kLossSumSlot, stream);
  if (summed != cudaSuccess) return summed;
  return launch("write_share_tail", write_share_tail_kernel, 1, 1, stream, n, refused, stop, vote,
                state, tail);
}

cudaError_t launch_accept_share_tail(StepState* state, const float* tail, int64_t world,
                                     int64_t batch_rows, float* loss, cudaStream_t stream) {
  return launch("accept_share_tail", accept_share_tail_kernel, 1, 1, stream, state, tail, world,
                batch_rows, loss);
}

}  // namespace vae::cuda
