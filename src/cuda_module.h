// The seam between libvae.so and its CUDA backend, the module libvae_cuda.so
// that libvae loads with dlopen the first time a trainer asks for CUDA or
// AUTO (docs/design.md, "The CUDA module"). The module exports one symbol,
// the C function VAE_CUDA_MODULE_ENTRY, which returns its table.
//
// Both sides are built by one build from these headers: the table carries
// the module's ABI number and its build's tag (VAE_BUILD_TAG, a hash of
// both libraries' sources, compilers and flags and of the build folder's
// nonce: cmake/VaeBuildTag.cmake), and libvae refuses a module whose number
// or tag differs from its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#define VAE_CUDA_MODULE_FILE "libvae_cuda.so"
#define VAE_CUDA_MODULE_ENTRY "vae_cuda_backend_v1"

namespace vae {

class Trainer;
struct Config;

// The table's layout: raised whenever CudaBackendTable changes. abi is and
// stays the first field, so a module of any version can be asked for it.
constexpr uint32_t kCudaModuleAbi = 1;

// How every message that says why CUDA cannot be used begins.
inline constexpr const char* kCudaUnavailable = "CUDA backend unavailable: ";

struct CudaBackendTable {
  uint32_t abi;       // kCudaModuleAbi of the module's build
  const char* build;  // VAE_BUILD_TAG of the module's build
  // A trainer on CUDA device config.device; throws Error (VAE_ERROR_DEVICE
  // naming the reason where there is no usable device).
  std::unique_ptr<Trainer> (*create_trainer)(const Config& config);
  // The number of CUDA devices; where there is none, 0 and the reason as one
  // clause in *why ("no NVIDIA driver found (...)", "no CUDA device found").
  int (*device_count)(std::string* why);
  // Whether p is device (or managed) memory.
  bool (*pointer_is_device)(const void* p);
};

}  // namespace vae

extern "C" {
typedef const vae::CudaBackendTable* (*vae_cuda_backend_entry)(void);
}
