// A build without the CUDA backend (VAE_ENABLE_CUDA=OFF): asking for CUDA is
// refused with a message that says how to get it, AUTO chooses the CPU, and
// every pointer is host memory.
#include <string>

#include "backend_factory.h"
#include "cuda_module.h"
#include "device_pointer.h"
#include "error.h"

namespace vae {

// VAE_ERROR_DEVICE, as vae.h says of CUDA without its module, in the
// sentence the module loader's failures begin with.
std::unique_ptr<Trainer> make_cuda_trainer(const Config&) {
  fail(VAE_ERROR_DEVICE, std::string(kCudaUnavailable) +
                             "this libvae was built without the CUDA backend "
                             "(configure with -DVAE_ENABLE_CUDA=ON where nvcc is installed)");
}

bool cuda_device_available() { return false; }

bool pointer_is_device(const void*) { return false; }

}  // namespace vae
