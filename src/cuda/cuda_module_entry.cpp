// libvae_cuda.so's one exported symbol: the table of the CUDA backend, with
// the ABI number and build tag that libvae checks before it uses the rest.
#include "cuda/cuda_backend.h"
#include "cuda_module.h"
#include "vae_build_tag.h"

namespace {

const vae::CudaBackendTable kTable = {
    vae::kCudaModuleAbi,
    VAE_BUILD_TAG,
    &vae::cuda_backend::create_trainer,
    &vae::cuda_backend::device_count,
    &vae::cuda_backend::pointer_is_device,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const vae::CudaBackendTable*
vae_cuda_backend_v1(void) {
  return &kTable;
}
