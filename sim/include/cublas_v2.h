// The simulated cuBLAS (sim/src/cublas.cpp): the handle, its stream,
// workspace and math mode, and SGEMM, column-major as NVIDIA documents it,
// queued on the handle's stream. CUBLAS_TF32_TENSOR_OP_MATH rounds the
// inputs to TF32 (10 mantissa bits), as the tensor cores read them.
#pragma once

#include <cstdint>

#include "cuda_runtime_api.h"
#include "library_types.h"

enum cublasStatus_t {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };

enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 };

enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };

struct cublasContext;
typedef cublasContext* cublasHandle_t;

CUDASIM_API cublasStatus_t cublasCreate(cublasHandle_t* handle);
CUDASIM_API cublasStatus_t cublasDestroy(cublasHandle_t handle);
CUDASIM_API cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
CUDASIM_API cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace,
                                              size_t bytes);
CUDASIM_API cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
CUDASIM_API const char* cublasGetStatusString(cublasStatus_t status);
// C = alpha op(A) op(B) + beta C, column-major; alpha and beta are read from
// host memory at the call (CUBLAS_POINTER_MODE_HOST).
CUDASIM_API cublasStatus_t cublasSgemm_64(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int64_t m, int64_t n,
                                          int64_t k, const float* alpha, const float* a,
                                          int64_t lda, const float* b, int64_t ldb,
                                          const float* beta, float* c, int64_t ldc);
