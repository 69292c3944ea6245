// The simulated device's process-wide state: its settings (from the
// environment), the sticky fault that ends a context, and each host
// thread's last error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_runtime_api.h"

namespace cudasim {

struct Settings {
  int device_count = 1;        // CUDASIM_DEVICES
  int sm_count = 8;            // CUDASIM_SM_COUNT
  unsigned delay_us = 0;       // CUDASIM_DELAY_US: each queued operation waits this long first
  size_t memory_bytes = 0;     // CUDASIM_MEMORY_MB; default: half the host's memory
  std::string lt_refuse;       // CUDASIM_LT_REFUSE: epilogues the Lt heuristic refuses
};
const Settings& settings();

// The error a kernel fault or a misused library left: every later call
// returns it, as a real context stays broken after a device fault. The
// first fault's message goes to standard error once, prefixed "cudasim:".
void fault(cudaError_t error, const std::string& message);
cudaError_t sticky_error();

// Records error as this thread's last error (cudaGetLastError) and returns it.
cudaError_t set_error(cudaError_t error);

// Bytes an allocation of the simulated device may still take.
bool reserve_device_bytes(size_t bytes);
void release_device_bytes(size_t bytes);
// The device memory allocated now (device and managed allocations).
size_t device_bytes_in_use();

}  // namespace cudasim
