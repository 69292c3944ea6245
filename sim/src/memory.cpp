#include "memory.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>

#include "cudasim/inspect.h"
#include "registry.h"
#include "state.h"

namespace cudasim {
namespace {

struct Allocation {
  size_t bytes;
  cudaMemoryType type;
  int device;
};

class Allocations {
 public:
  void add(void* p, const Allocation& a) {
    std::lock_guard<std::mutex> lock(mutex_);
    map_[reinterpret_cast<uintptr_t>(p)] = a;
  }
  bool remove(void* p, bool pinned, Allocation* removed) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(reinterpret_cast<uintptr_t>(p));
    if (it == map_.end() || (it->second.type == cudaMemoryTypeHost) != pinned) return false;
    *removed = it->second;
    map_.erase(it);
    return true;
  }
  Region find(const void* p) const {
    Region r;
    const auto address = reinterpret_cast<uintptr_t>(p);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.upper_bound(address);
    if (it == map_.begin()) return r;
    --it;
    const uintptr_t end = it->first + it->second.bytes;
    if (address >= end) return r;
    r.type = it->second.type;
    r.device = it->second.device;
    r.base = reinterpret_cast<void*>(it->first);
    r.room = end - address;
    return r;
  }

 private:
  mutable std::mutex mutex_;
  std::map<uintptr_t, Allocation> map_;
};

Allocations& allocations() {
  static Allocations* const a = new Allocations();
  return *a;
}

bool on_device(cudaMemoryType t) { return t == cudaMemoryTypeDevice || t == cudaMemoryTypeManaged; }

std::atomic<size_t> pinned{0};

}  // namespace

size_t pinned_bytes() { return pinned.load(); }

cudaError_t allocate(void** p, size_t bytes, cudaMemoryType type) {
  if (p == nullptr) return cudaErrorInvalidValue;
  *p = nullptr;
  const cudaError_t unsafe = Registry::get().unsafe_call();
  if (unsafe != cudaSuccess) return unsafe;
  if (bytes == 0) return cudaSuccess;
  const bool counted = type != cudaMemoryTypeHost;
  if (counted && !reserve_device_bytes(bytes)) return cudaErrorMemoryAllocation;
  // 256-byte aligned, as cudaMalloc's; the block is exactly `bytes` long, so
  // AddressSanitizer poisons what lies past it.
  void* block = nullptr;
  if (posix_memalign(&block, 256, bytes) != 0) {
    if (counted) release_device_bytes(bytes);
    return cudaErrorMemoryAllocation;
  }
  allocations().add(block, Allocation{bytes, type, current_device()});
  if (!counted) pinned += bytes;
  *p = block;
  return cudaSuccess;
}

cudaError_t release(void* p, bool pinned) {
  if (p == nullptr) return cudaSuccess;
  const cudaError_t unsafe = Registry::get().unsafe_call();
  if (unsafe != cudaSuccess) return unsafe;
  // cudaFree waits for the device's queued work, which may still use p.
  Registry::get().synchronize_device();
  Allocation a{};
  if (!allocations().remove(p, pinned, &a)) return cudaErrorInvalidValue;
  std::free(p);
  if (a.type != cudaMemoryTypeHost) release_device_bytes(a.bytes);
  if (a.type == cudaMemoryTypeHost) pinned -= a.bytes;
  return cudaSuccess;
}

Region find(const void* p) { return allocations().find(p); }

cudaError_t check_device_range(const void* p, size_t bytes) {
  const Region r = find(p);
  if (!on_device(r.type) || bytes > r.room) return cudaErrorInvalidValue;
  return cudaSuccess;
}

cudaError_t check_copy(void* dst, size_t dst_bytes, const void* src, size_t src_bytes,
                       cudaMemcpyKind kind) {
  if (dst_bytes == 0 && src_bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return cudaErrorInvalidValue;
  const Region d = find(dst);
  const Region s = find(src);
  if ((d.type != cudaMemoryTypeUnregistered && dst_bytes > d.room) ||
      (s.type != cudaMemoryTypeUnregistered && src_bytes > s.room)) {
    return cudaErrorInvalidValue;
  }
  const bool dst_device = on_device(d.type) && d.type != cudaMemoryTypeManaged;
  const bool src_device = on_device(s.type) && s.type != cudaMemoryTypeManaged;
  const bool dst_host_ok = d.type != cudaMemoryTypeDevice;
  const bool src_host_ok = s.type != cudaMemoryTypeDevice;
  const bool dst_device_ok = on_device(d.type);
  const bool src_device_ok = on_device(s.type);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToHost: ok = !dst_device && !src_device; break;
    case cudaMemcpyHostToDevice: ok = dst_device_ok && src_host_ok; break;
    case cudaMemcpyDeviceToHost: ok = src_device_ok && dst_host_ok; break;
    case cudaMemcpyDeviceToDevice: ok = dst_device_ok && src_device_ok; break;
    case cudaMemcpyDefault: ok = true; break;
    default: ok = false;
  }
  return ok ? cudaSuccess : cudaErrorInvalidValue;
}

}  // namespace cudasim
