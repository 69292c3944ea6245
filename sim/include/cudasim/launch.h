// Kernel launches on the simulated device: the simulator's form of
// kernel<<<grid, block, shared, stream>>>(args...). The arguments are copied
// at the launch, as CUDA copies them, and the kernel runs later on the
// stream's worker with every thread of each block as a fiber.
#pragma once

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime_api.h"

namespace cudasim {

// Checks the launch shape (a bad one is the thread's last error, as with
// CUDA), then queues body, which runs one thread's share of the kernel, on
// the stream. The stream's worker calls prepare before the block's fibers
// start.
CUDASIM_EXPORT cudaError_t enqueue_kernel(const char* name, dim3 grid, dim3 block,
                                      size_t shared_bytes, cudaStream_t stream,
                                      std::function<void()> body, void (*prepare)());

// The thread-local storage of the object the kernel is in (where its
// __shared__ arrays live) is made on a thread's first touch of any of it:
// the worker touches it before the fibers start, so that no fiber makes it
// (ThreadSanitizer would see the others race with that allocation).
inline thread_local char thread_storage_anchor = 0;
inline void touch_thread_storage() { thread_storage_anchor = 1; }

template <class... Params, class... Args>
cudaError_t launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block,
                   size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a kernel's arguments");
  auto packed = std::make_shared<std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
  return enqueue_kernel(name, grid, block, shared_bytes, stream,
                        [kernel, packed] { std::apply(kernel, *packed); },
                        &touch_thread_storage);
}

}  // namespace cudasim
