// A stand-in for a libvae_cuda.so of another build, for check_cuda_module.sh:
// its table has the ABI number STALE_ABI and the build tag STALE_BUILD, and
// no functions (libvae must refuse it before it calls any).
#include "cuda_module.h"

namespace {

const vae::CudaBackendTable kTable = {STALE_ABI, STALE_BUILD, nullptr, nullptr, nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const vae::CudaBackendTable*
vae_cuda_backend_v1(void) {
  return &kTable;
}
