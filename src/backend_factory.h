// The constructors of the backends' trainers, and the one question the
// generic code asks of CUDA.
#pragma once

#include <memory>

#include "config.h"

namespace vae {

class Trainer;

std::unique_ptr<Trainer> make_cpu_trainer(const Config& config);
// Throws Error(VAE_ERROR_DEVICE) when there is no usable GPU, and
// Error(VAE_ERROR_UNSUPPORTED) in a build without the CUDA backend.
std::unique_ptr<Trainer> make_cuda_trainer(const Config& config);
// Whether a CUDA device can be used (false in a build without CUDA).
bool cuda_device_available();

}  // namespace vae
