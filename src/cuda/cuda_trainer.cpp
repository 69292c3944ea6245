// The CUDA backend's trainer, and the questions the generic code asks of
// CUDA: whether a device can be used, and whether a pointer is device memory.
// This file replaces src/no_cuda/cuda_backend_absent.cpp in a CUDA build.
#include <cuda_runtime_api.h>

#include <memory>
#include <string>

#include "backend_factory.h"
#include "cuda/cuda_ops.h"
#include "device_pointer.h"
#include "error.h"
#include "trainer_impl.h"

namespace vae {

std::unique_ptr<Trainer> make_cuda_trainer(const Config& config) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    fail(VAE_ERROR_DEVICE, std::string("no CUDA device is available: ") +
                               cudaGetErrorString(status));
  }
  if (count <= 0) {
    fail(VAE_ERROR_DEVICE, "no CUDA device is available: cudaGetDeviceCount found 0 devices");
  }
  if (config.device < 0 || config.device >= count) {
    fail(VAE_ERROR_DEVICE, "no CUDA device is available: VAE_OPT_DEVICE is " +
                               std::to_string(config.device) + ", must be in [0, " +
                               std::to_string(count - 1) + "] on this machine");
  }
  return std::make_unique<TrainerImpl<CudaOps>>(config, std::make_unique<CudaOps>(config));
}

bool cuda_device_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return false;
  }
  return count > 0;
}

bool pointer_is_device(const void* p) {
  if (p == nullptr) return false;
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, p) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return false;
  }
  return attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
}

}  // namespace vae
