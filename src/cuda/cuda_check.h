// Turning a failed CUDA, cuBLAS or cuBLASLt call into the core's exception:
// Error(VAE_ERROR_DEVICE, "<call>: <library's message>"), or
// VAE_ERROR_OUT_OF_MEMORY when the failure was an allocation.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "error.h"

namespace vae::cuda_detail {

inline void check_cuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  // Clears the error a failed call also records (sticky errors stay), so a
  // later launch check does not report this one again.
  static_cast<void>(cudaGetLastError());
  throw Error(status == cudaErrorMemoryAllocation ? VAE_ERROR_OUT_OF_MEMORY : VAE_ERROR_DEVICE,
              std::string(call) + ": " + cudaGetErrorString(status));
}

inline void check_cublas(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(status == CUBLAS_STATUS_ALLOC_FAILED ? VAE_ERROR_OUT_OF_MEMORY : VAE_ERROR_DEVICE,
              std::string(call) + ": " + cublasGetStatusString(status));
}

inline void check_lt(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(status == CUBLAS_STATUS_ALLOC_FAILED ? VAE_ERROR_OUT_OF_MEMORY : VAE_ERROR_DEVICE,
              std::string(call) + ": " + cublasLtGetStatusString(status));
}

}  // namespace vae::cuda_detail
