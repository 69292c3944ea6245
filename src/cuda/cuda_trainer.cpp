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
#include "host_memory.h"
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

// The memory a CUDA trainer of `config` takes when it is built, before any
// of it is allocated: on the device, the one arena of CudaOps::allocate
// (the workspace's floats as Network lays them out, cuBLASLt's workspace
// and the backend's scratch); on the host, the packed buffers that
// initialize and copy the state, three of the parameters' size at once.
// Evaluation's workspace comes with the first evaluation call, and each
// dataset with its own, each a failed allocation of its own when too large.
struct CudaTrainerBytes {
  double device;
  double host;
};

CudaTrainerBytes cuda_trainer_bytes(const Config& config) {
  const ParameterLayout layout(config, CudaOps::kParameterAlignment);
  // max_batch <= 2^20 and samples <= 4096: their product fits.
  const double floats = Network<CudaOps>::arena_floats<double>(
      layout, config.input_dim, config.latent_dim, config.max_batch,
      config.max_batch * config.samples);
  // Past 2^60 floats the count would not fit a size_t, and no device has it.
  const double device = floats < 0x1p60 ? static_cast<double>(CudaOps::arena_bytes(
                                              static_cast<size_t>(floats), layout.widest))
                                        : floats * sizeof(float);
  return {device, 3.0 * sizeof(float) * static_cast<double>(layout.packed_total)};
}

// Refuses (VAE_ERROR_OUT_OF_MEMORY naming both amounts) a trainer whose
// arena is more than the device has free: cudaMalloc would refuse it too,
// after the stream and handles exist, with a message naming neither.
void check_device_memory(const Config& config) {
  const CudaTrainerBytes bytes = cuda_trainer_bytes(config);
  const std::string what = describe_trainer(config, "CUDA");
  check_host_memory(bytes.host, what);
  const int device = static_cast<int>(config.device);
  size_t free = 0, total = 0;
  const cudaError_t status = cudaSetDevice(device) == cudaSuccess
                                 ? cudaMemGetInfo(&free, &total)
                                 : cudaGetLastError();
  if (status != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    fail(VAE_ERROR_DEVICE, kCudaUnavailable + std::string("cudaMemGetInfo on device ") +
                               std::to_string(device) + " failed: " + cudaGetErrorString(status));
  }
  if (bytes.device <= static_cast<double>(free)) return;
  fail(VAE_ERROR_OUT_OF_MEMORY,
       what + " needs " + byte_text(bytes.device) + " of device memory, more than CUDA device " +
           std::to_string(device) + " has free (" + byte_text(static_cast<double>(free)) +
           " of " + byte_text(static_cast<double>(total)) +
           "); nothing was allocated (lower VAE_OPT_MAX_BATCH or VAE_OPT_SAMPLES)");
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
  check_device_memory(config);
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
