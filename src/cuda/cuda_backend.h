// The CUDA backend as the module offers it (src/cuda_module.h): the
// functions of its table, here as functions of the backend's own objects,
// which the CUDA test suites also call directly.
#pragma once

#include <memory>
#include <string>

#include "config.h"

namespace vae {

class Trainer;

namespace cuda_backend {

// A trainer on CUDA device config.device. Throws Error(VAE_ERROR_DEVICE)
// naming the reason when there is no such device.
std::unique_ptr<Trainer> create_trainer(const Config& config);
// The number of CUDA devices; when there is none, 0 and (why not null) the
// reason as one clause: no driver, a driver older than the runtime, or no
// device.
int device_count(std::string* why);
// Whether p is device or managed memory (false for host memory and null).
bool pointer_is_device(const void* p);

}  // namespace cuda_backend
}  // namespace vae
