// The simulated cuBLAS's product, written from NVIDIA's documentation of
// column-major GEMM: element (i, j) of an r x c matrix X with leading
// dimension ld is X[i + j ld]; op(X) is X or its transpose;
//   D = alpha op(A) op(B) + beta C   (C is not read when beta is 0),
// accumulated in float over p = 0 .. k-1 in order. With tf32 the inputs are
// first rounded to TF32 (8 exponent and 10 mantissa bits, to nearest, ties
// away from zero), as the tensor cores read them.
#pragma once

#include <cstdint>

#include "cublas_v2.h"

namespace cudasim {

struct GemmCall {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  const float* c = nullptr;
  int64_t ldc = 0;
  float* d = nullptr;
  int64_t ldd = 0;
  bool tf32 = false;
};

float round_to_tf32(float x);
void gemm(const GemmCall& g);

// For the cuBLAS and cuBLASLt entry points (cublas.cpp): whether the rows x
// cols float matrix at p with leading dimension ld lies in one device
// allocation (when not, the call faults as the device would, naming call
// and matrix); and g queued on the stream.
bool matrix_on_device(const char* call, const char* name, const void* p, int64_t rows,
                      int64_t cols, int64_t ld);
cublasStatus_t enqueue_gemm(cudaStream_t stream, const GemmCall& g);

}  // namespace cudasim
