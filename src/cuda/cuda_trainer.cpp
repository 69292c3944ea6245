// The CUDA backend's trainer, and the questions libvae asks of CUDA: how
// many devices there are (and, where none, why), and whether a pointer is
// device memory. The module's table (cuda_module_entry.cpp) hands these out.
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <memory>
#include <string>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_ops.h"
#include "cuda_module.h"
#include "error.h"
#include "trainer_impl.h"

namespace vae::cuda_backend {
namespace {

// A CUDA version number (1000 major + 10 minor) as "major.minor".
std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// Why the driver library cannot be loaded: the dynamic loader's message.
std::string driver_load_failure() {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver != nullptr) {
    dlclose(driver);
    return "libcuda.so.1 could not be loaded";
  }
  const char* message = dlerror();
  return message != nullptr ? message : "libcuda.so.1 could not be loaded";
}

// Why cudaGetDeviceCount, which returned `status`, found no device. The
// runtime reports a missing driver as one "insufficient" for it, so the
// driver's version (0: none) tells the two apart.
std::string no_device_reason(cudaError_t status) {
  if (status == cudaSuccess || status == cudaErrorNoDevice) {
    return "no CUDA device found (the NVIDIA driver reports none)";
  }
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
    static_cast<void>(cudaGetLastError());
    return "no NVIDIA driver found (" + driver_load_failure() + ")";
  }
  if (status == cudaErrorInsufficientDriver) {
    int runtime = 0;
    static_cast<void>(cudaRuntimeGetVersion(&runtime));
    return "the NVIDIA driver supports CUDA up to " + version_text(driver) +
           ", older than the CUDA runtime " + version_text(runtime) +
           " libvae was built with (update the driver)";
  }
  return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status);
}

}  // namespace

int device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess && count > 0) return count;
  static_cast<void>(cudaGetLastError());
  if (why != nullptr) *why = no_device_reason(status);
  return 0;
}

std::unique_ptr<Trainer> create_trainer(const Config& config) {
  std::string why;
  const int count = device_count(&why);
  if (count == 0) fail(VAE_ERROR_DEVICE, kCudaUnavailable + why);
  if (config.device < 0 || config.device >= count) {
    fail(VAE_ERROR_DEVICE, kCudaUnavailable + std::string("VAE_OPT_DEVICE is ") +
                               std::to_string(config.device) + ", must be in [0, " +
                               std::to_string(count - 1) + "] on this machine");
  }
  return std::make_unique<TrainerImpl<CudaOps>>(config, std::make_unique<CudaOps>(config));
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

}  // namespace vae::cuda_backend
