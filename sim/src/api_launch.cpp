// Kernel launches: the shape checked as CUDA checks it, then the kernel
// queued on its stream (block_runner.h runs it).
#include <string>

#include "block_runner.h"
#include "cudasim/launch.h"
#include "registry.h"
#include "state.h"

namespace cudasim {

cudaError_t enqueue_kernel(const char* name, dim3 grid, dim3 block, size_t shared_bytes,
                           cudaStream_t stream, std::function<void()> body, void (*prepare)()) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535 || threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 ||
      block.z > 64 || shared_bytes > 48 * 1024) {
    return set_error(cudaErrorInvalidConfiguration);
  }
  Operation op{std::string("kernel ") + name,
               [name, grid, block, prepare, run = std::move(body)] {
                 prepare();
                 run_kernel(name, grid, block, run);
               },
               {}};
  return set_error(Registry::get().enqueue(stream, std::move(op)));
}

}  // namespace cudasim
