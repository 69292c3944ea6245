// The constructors of the backends' trainers, and the one question the
// generic code asks of CUDA. In a build with the CUDA backend, the CUDA ones
// go through the module libvae_cuda.so (src/cuda_loader/, loaded on first
// use); in a build without it, src/no_cuda/ answers.
#pragma once

#include <memory>

#include "config.h"

namespace vae {

class Trainer;

std::unique_ptr<Trainer> make_cpu_trainer(const Config& config);
// Throws Error(VAE_ERROR_DEVICE) naming the reason when the module, the
// driver or the device is missing, and Error(VAE_ERROR_UNSUPPORTED) in a
// build without the CUDA backend.
std::unique_ptr<Trainer> make_cuda_trainer(const Config& config);
// Whether a CUDA device can be used (false where make_cuda_trainer would
// refuse for want of the module, a driver or a device).
bool cuda_device_available();

}  // namespace vae
