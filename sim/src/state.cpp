#include "state.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace cudasim {
namespace {

long environment_number(const char* name, long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return *end == '\0' && value >= 0 ? value : fallback;
}

Settings read_settings() {
  Settings s;
  s.device_count = static_cast<int>(environment_number("CUDASIM_DEVICES", 1));
  s.sm_count = static_cast<int>(environment_number("CUDASIM_SM_COUNT", 8));
  if (s.sm_count < 1) s.sm_count = 1;
  s.delay_us = static_cast<unsigned>(environment_number("CUDASIM_DELAY_US", 0));
  const long host_pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  const size_t half_host =
      host_pages > 0 && page > 0 ? static_cast<size_t>(host_pages) * static_cast<size_t>(page) / 2
                                 : size_t{4} << 30;
  const long mb = environment_number("CUDASIM_MEMORY_MB", 0);
  s.memory_bytes = mb > 0 ? static_cast<size_t>(mb) << 20 : half_host;
  if (const char* refuse = std::getenv("CUDASIM_LT_REFUSE")) s.lt_refuse = refuse;
  return s;
}

std::atomic<int> sticky{cudaSuccess};
std::atomic<size_t> device_bytes_used{0};
thread_local cudaError_t last_error = cudaSuccess;

}  // namespace

const Settings& settings() {
  static const Settings s = read_settings();
  return s;
}

void fault(cudaError_t error, const std::string& message) {
  int expected = cudaSuccess;
  if (sticky.compare_exchange_strong(expected, error)) {
    std::fprintf(stderr, "cudasim: %s (%s)\n", message.c_str(), cudaGetErrorName(error));
  }
}

cudaError_t sticky_error() { return static_cast<cudaError_t>(sticky.load()); }

cudaError_t set_error(cudaError_t error) {
  if (error != cudaSuccess) last_error = error;
  return error;
}

bool reserve_device_bytes(size_t bytes) {
  size_t used = device_bytes_used.load();
  do {
    if (bytes > settings().memory_bytes - used) return false;
  } while (!device_bytes_used.compare_exchange_weak(used, used + bytes));
  return true;
}

void release_device_bytes(size_t bytes) { device_bytes_used -= bytes; }

size_t device_bytes_in_use() { return device_bytes_used.load(); }

}  // namespace cudasim

using cudasim::set_error;
using cudasim::sticky_error;

extern "C" {

cudaError_t cudaGetLastError(void) {
  const cudaError_t sticky_now = sticky_error();
  if (sticky_now != cudaSuccess) return sticky_now;
  const cudaError_t e = cudasim::last_error;
  cudasim::last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  const cudaError_t sticky_now = sticky_error();
  return sticky_now != cudaSuccess ? sticky_now : cudasim::last_error;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
#define CUDASIM_NAME(e) \
  case e:               \
    return #e;
    CUDASIM_NAME(cudaSuccess)
    CUDASIM_NAME(cudaErrorInvalidValue)
    CUDASIM_NAME(cudaErrorMemoryAllocation)
    CUDASIM_NAME(cudaErrorInitializationError)
    CUDASIM_NAME(cudaErrorInvalidConfiguration)
    CUDASIM_NAME(cudaErrorInvalidDevice)
    CUDASIM_NAME(cudaErrorInvalidResourceHandle)
    CUDASIM_NAME(cudaErrorNoDevice)
    CUDASIM_NAME(cudaErrorInsufficientDriver)
    CUDASIM_NAME(cudaErrorNotReady)
    CUDASIM_NAME(cudaErrorIllegalAddress)
    CUDASIM_NAME(cudaErrorLaunchFailure)
    CUDASIM_NAME(cudaErrorMisalignedAddress)
    CUDASIM_NAME(cudaErrorStreamCaptureUnsupported)
    CUDASIM_NAME(cudaErrorStreamCaptureInvalidated)
    CUDASIM_NAME(cudaErrorStreamCaptureMerge)
    CUDASIM_NAME(cudaErrorStreamCaptureUnmatched)
    CUDASIM_NAME(cudaErrorStreamCaptureUnjoined)
    CUDASIM_NAME(cudaErrorStreamCaptureIsolation)
    CUDASIM_NAME(cudaErrorStreamCaptureImplicit)
    CUDASIM_NAME(cudaErrorCapturedEvent)
    CUDASIM_NAME(cudaErrorStreamCaptureWrongThread)
    CUDASIM_NAME(cudaErrorIllegalState)
    CUDASIM_NAME(cudaErrorUnknown)
#undef CUDASIM_NAME
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorMisalignedAddress: return "misaligned address";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureMerge: return "operation would result in a merge of separate capture sequences";
    case cudaErrorStreamCaptureUnmatched: return "capture was not ended in the same stream as it began";
    case cudaErrorStreamCaptureUnjoined: return "capturing stream has unjoined work";
    case cudaErrorStreamCaptureIsolation:
      return "dependency created on uncaptured work in another stream";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
    case cudaErrorStreamCaptureWrongThread:
      return "attempt to terminate a thread-local capture sequence from another thread";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return set_error(cudaErrorInvalidValue);
  *count = cudasim::settings().device_count;
  return *count > 0 ? cudaSuccess : set_error(cudaErrorNoDevice);
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return set_error(cudaErrorInvalidValue);
  *version = 13000;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return set_error(cudaErrorInvalidValue);
  *version = 13000;
  return cudaSuccess;
}

}  // extern "C"
