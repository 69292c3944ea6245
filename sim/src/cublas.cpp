// The simulated cuBLAS handle and SGEMM.
#include <cstdint>
#include <memory>
#include <sstream>

#include "cublas_v2.h"
#include "gemm.h"
#include "memory.h"
#include "registry.h"
#include "state.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

namespace cudasim {

// Whether the r x c matrix at p with leading dimension ld lies in device
// memory; a product over one that does not faults, as the device would.
bool matrix_on_device(const char* call, const char* name, const void* p, int64_t rows,
                      int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return true;
  const auto bytes = static_cast<size_t>((cols - 1) * ld + rows) * sizeof(float);
  if (check_device_range(p, bytes) == cudaSuccess) return true;
  std::ostringstream text;
  text << call << ": " << name << " (" << rows << " x " << cols << ", ld " << ld << ") at " << p
       << " is not within one device allocation";
  fault(cudaErrorIllegalAddress, text.str());
  return false;
}

cublasStatus_t enqueue_gemm(cudaStream_t stream, const GemmCall& call) {
  Operation op{"gemm", [call] { gemm(call); }, {}};
  return Registry::get().enqueue(stream, std::move(op)) == cudaSuccess
             ? CUBLAS_STATUS_SUCCESS
             : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace cudasim

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = std::make_unique<cublasContext>().release();  // until cublasDestroy
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  std::unique_ptr<cublasContext> owned(handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (cudasim::Registry::get().resolve(stream) == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  // As with cuBLAS: a new stream returns the handle to its own workspace.
  handle->workspace = nullptr;
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0 && cudasim::check_device_range(workspace, bytes) != cudaSuccess) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  }
  return "unknown status";
}

cublasStatus_t cublasSgemm_64(cublasHandle_t handle, cublasOperation_t transa,
                              cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                              const float* alpha, const float* a, int64_t lda, const float* b,
                              int64_t ldb, const float* beta, float* c, int64_t ldc) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  const int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  if (m < 0 || n < 0 || k < 0 || alpha == nullptr || beta == nullptr ||
      lda < std::max<int64_t>(1, a_rows) || ldb < std::max<int64_t>(1, b_rows) ||
      ldc < std::max<int64_t>(1, m)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (cudasim::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (!cudasim::matrix_on_device("cublasSgemm", "A", a, a_rows, ta ? m : k, lda) ||
      !cudasim::matrix_on_device("cublasSgemm", "B", b, b_rows, tb ? k : n, ldb) ||
      !cudasim::matrix_on_device("cublasSgemm", "C", c, m, n, ldc)) {
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  cudasim::GemmCall call;
  call.trans_a = ta;
  call.trans_b = tb;
  call.m = m;
  call.n = n;
  call.k = k;
  call.alpha = *alpha;
  call.beta = *beta;
  call.a = a;
  call.lda = lda;
  call.b = b;
  call.ldb = ldb;
  call.c = c;
  call.ldc = ldc;
  call.d = c;
  call.ldd = ldc;
  call.tf32 = handle->math == CUBLAS_TF32_TENSOR_OP_MATH;
  return cudasim::enqueue_gemm(handle->stream, call);
}

}  // extern "C"
