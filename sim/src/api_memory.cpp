// The runtime's memory calls on the simulated device.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "memory.h"
#include "registry.h"
#include "state.h"

using cudasim::Operation;
using cudasim::Registry;
using cudasim::set_error;

namespace {

// Queues op on stream; with `wait`, returns once it has run (the
// synchronous calls, on the legacy stream).
cudaError_t submit(cudaStream_t stream, Operation op, bool wait) {
  if (wait) {
    const cudaError_t unsafe = Registry::get().unsafe_call();
    if (unsafe != cudaSuccess) return unsafe;
  }
  std::shared_ptr<cudasim::Stream> where;
  uint64_t ticket = 0;
  const cudaError_t e = Registry::get().enqueue(stream, std::move(op), &where, &ticket);
  if (e != cudaSuccess || !wait) return e;
  where->wait(ticket);
  return cudasim::sticky_error();
}

Operation copy_operation(void* dst, const void* src, size_t bytes) {
  return Operation{"memcpy", [=] { std::memmove(dst, src, bytes); }, {}};
}

Operation set_operation(void* p, int value, size_t bytes) {
  return Operation{"memset", [=] { std::memset(p, value, bytes); }, {}};
}

// CUDA's rules for the host side of an asynchronous copy (the runtime API's
// "API synchronization behavior"): pageable source memory is staged before
// the call returns, so the caller may reuse it at once; a copy into
// pageable memory, or between host buffers, returns once it is done. Only
// copies between device, managed and pinned memory are fully asynchronous.
cudaError_t copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                 cudaStream_t stream, bool wait) {
  const cudaError_t checked = cudasim::check_copy(dst, bytes, src, bytes, kind);
  if (checked != cudaSuccess) return checked;
  if (bytes == 0) return cudaSuccess;
  const cudaMemoryType src_type = cudasim::find(src).type;
  const cudaMemoryType dst_type = cudasim::find(dst).type;
  auto host = [](cudaMemoryType t) {
    return t == cudaMemoryTypeUnregistered || t == cudaMemoryTypeHost;
  };
  const bool synchronous =
      wait || dst_type == cudaMemoryTypeUnregistered || (host(src_type) && host(dst_type));
  if (!synchronous && src_type == cudaMemoryTypeUnregistered) {
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                      static_cast<const char*>(src) + bytes);
    Operation op{"memcpy", [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); },
                 {}};
    return submit(stream, std::move(op), false);
  }
  if (!synchronous || wait) return submit(stream, copy_operation(dst, src, bytes), wait);
  // An asynchronous call that CUDA makes wait; without the capture rules of
  // the synchronous calls (in a capture it records, and waits for nothing).
  std::shared_ptr<cudasim::Stream> where;
  uint64_t ticket = 0;
  const cudaError_t e =
      Registry::get().enqueue(stream, copy_operation(dst, src, bytes), &where, &ticket);
  if (e != cudaSuccess) return e;
  if (ticket != 0) where->wait(ticket);
  return cudasim::sticky_error();
}

cudaError_t set(void* p, int value, size_t bytes, cudaStream_t stream, bool wait) {
  if (bytes == 0) return cudaSuccess;
  const cudaError_t checked = cudasim::check_device_range(p, bytes);
  if (checked != cudaSuccess) return checked;
  return submit(stream, set_operation(p, value, bytes), wait);
}

}  // namespace

extern "C" {

cudaError_t cudaMalloc(void** p, size_t bytes) {
  return set_error(cudasim::allocate(p, bytes, cudaMemoryTypeDevice));
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
  return set_error(cudasim::allocate(p, bytes, cudaMemoryTypeHost));
}

cudaError_t cudaMallocManaged(void** p, size_t bytes, unsigned int) {
  return set_error(cudasim::allocate(p, bytes, cudaMemoryTypeManaged));
}

cudaError_t cudaFree(void* p) { return set_error(cudasim::release(p, false)); }

cudaError_t cudaFreeHost(void* p) { return set_error(cudasim::release(p, true)); }

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  if (free == nullptr || total == nullptr) return set_error(cudaErrorInvalidValue);
  const cudaError_t unsafe = cudasim::Registry::get().unsafe_call();
  if (unsafe != cudaSuccess) return set_error(unsafe);
  const size_t capacity = cudasim::settings().memory_bytes;
  const size_t used = std::min(cudasim::device_bytes_in_use(), capacity);
  *free = capacity - used;
  *total = capacity;
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p) {
  if (attributes == nullptr) return set_error(cudaErrorInvalidValue);
  const cudasim::Region r = cudasim::find(p);
  attributes->type = r.type;
  attributes->device = r.device;
  void* pointer = const_cast<void*>(p);
  attributes->devicePointer =
      r.type == cudaMemoryTypeDevice || r.type == cudaMemoryTypeManaged ? pointer : nullptr;
  attributes->hostPointer =
      r.type == cudaMemoryTypeHost || r.type == cudaMemoryTypeManaged ? pointer : nullptr;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return set_error(copy(dst, src, bytes, kind, nullptr, true));
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  return set_error(copy(dst, src, bytes, kind, stream, false));
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch,
                              size_t width, size_t height, cudaMemcpyKind kind,
                              cudaStream_t stream) {
  if (width == 0 || height == 0) return cudaSuccess;
  if (dpitch < width || spitch < width) return set_error(cudaErrorInvalidValue);
  const cudaError_t checked = cudasim::check_copy(dst, (height - 1) * dpitch + width, src,
                                                  (height - 1) * spitch + width, kind);
  if (checked != cudaSuccess) return set_error(checked);
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  Operation op{"memcpy2D",
               [=] {
                 for (size_t row = 0; row < height; ++row) {
                   std::memmove(d + row * dpitch, s + row * spitch, width);
                 }
               },
               {}};
  return set_error(submit(stream, std::move(op), false));
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  return set_error(set(p, value, bytes, nullptr, true));
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  return set_error(set(p, value, bytes, stream, false));
}

}  // extern "C"
