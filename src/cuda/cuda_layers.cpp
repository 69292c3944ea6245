// The layers' products on the device: cuBLASLt GEMMs with the bias and
// ReLU epilogues (and the bias gradient's BGRADB), a kernel where cuBLASLt
// has no algorithm for an epilogue, cublasSgemm where it has none for a
// plain product (CudaOps, src/cuda/cuda_ops.h).
#include <string>

#include "activation.cuh"
#include "cuda/cuda_check.h"
#include "cuda/cuda_gemm_plans.h"
#include "cuda/cuda_ops.h"
#include "error.h"
#include "reductions.cuh"

namespace vae {

namespace cuda_detail {

namespace {

// The largest power of two, 4 to 256, that divides the address.
uint32_t alignment(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 4 && address % a != 0) a /= 2;
  return a;
}

template <class T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute,
              const T& value) {
  check_lt(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)),
           "cublasLtMatmulDescSetAttribute");
}

template <class T>
void set_preference(cublasLtMatmulPreference_t pref,
                    cublasLtMatmulPreferenceAttributes_t attribute, const T& value) {
  check_lt(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof(value)),
           "cublasLtMatmulPreferenceSetAttribute");
}

}  // namespace

}  // namespace cuda_detail

using cuda_detail::check_cublas;
using cuda_detail::check_cuda;
using cuda_detail::check_lt;

// ---------------------------------------------------------------------------
// GEMMs. cuBLASLt and cuBLAS are column-major; the layers are row-major. A
// row-major [r, c] array with leading dimension c is, read column-major, the
// [c, r] array with ld = c: its transpose. So each row-major product
// C = A B is computed as the column-major C^T = B^T A^T, with every operand
// read in place (see linear_forward and linear_backward for each product).

bool CudaOps::gemm(const Gemm& g) const {
  using cuda_detail::GemmKey;
  using cuda_detail::GemmPlan;
  GemmKey key;
  key.m = g.m;
  key.n = g.n;
  key.k = g.k;
  key.lda = g.lda;
  key.ldb = g.ldb;
  key.ldd = g.ldd;
  key.trans_a = g.trans_a ? 1 : 0;
  key.trans_b = g.trans_b ? 1 : 0;
  key.epilogue = static_cast<int>(g.epilogue);
  key.compute = static_cast<int>(compute_);
  key.align_a = cuda_detail::alignment(g.a);
  key.align_b = cuda_detail::alignment(g.b);
  key.align_d = cuda_detail::alignment(g.d);
  key.align_bias = g.bias != nullptr ? cuda_detail::alignment(g.bias) : 0;

  const void* bias = g.bias;
  // cuBLASLt's epilogues read the bias with vector loads: one that is not
  // 16-byte aligned (never, with the padded layout) takes the kernel path.
  if (bias != nullptr && key.align_bias < 16) return false;
  GemmPlan* plan = gemm_cache_->find(key);
  if (plan == nullptr) {
    cuda_detail::GemmCache& cache = *gemm_cache_;
    plan = &cache.plans[cache.next];
    cache.next = (cache.next + 1) % cache.plans.size();
    plan->used = false;
    plan->key = key;
    const cublasOperation_t ta = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    check_lt(cublasLtMatmulDescInit(&plan->desc, compute_, CUDA_R_32F), "cublasLtMatmulDescInit");
    cuda_detail::set_desc(&plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, ta);
    cuda_detail::set_desc(&plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, tb);
    cuda_detail::set_desc(&plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, g.epilogue);
    if (bias != nullptr) cuda_detail::set_desc(&plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
    // The stored matrices: op(A) is m x k, so A is k x m when transposed.
    const auto a_rows = static_cast<uint64_t>(g.trans_a ? g.k : g.m);
    const auto a_cols = static_cast<uint64_t>(g.trans_a ? g.m : g.k);
    const auto b_rows = static_cast<uint64_t>(g.trans_b ? g.n : g.k);
    const auto b_cols = static_cast<uint64_t>(g.trans_b ? g.k : g.n);
    check_lt(cublasLtMatrixLayoutInit(&plan->a, CUDA_R_32F, a_rows, a_cols, g.lda),
             "cublasLtMatrixLayoutInit");
    check_lt(cublasLtMatrixLayoutInit(&plan->b, CUDA_R_32F, b_rows, b_cols, g.ldb),
             "cublasLtMatrixLayoutInit");
    check_lt(cublasLtMatrixLayoutInit(&plan->d, CUDA_R_32F, static_cast<uint64_t>(g.m),
                                      static_cast<uint64_t>(g.n), g.ldd),
             "cublasLtMatrixLayoutInit");
    cublasLtMatmulPreferenceOpaque_t pref{};
    check_lt(cublasLtMatmulPreferenceInit(&pref), "cublasLtMatmulPreferenceInit");
    const uint64_t workspace = gemm_workspace_bytes_;
    cuda_detail::set_preference(&pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace);
    cuda_detail::set_preference(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a);
    cuda_detail::set_preference(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b);
    cuda_detail::set_preference(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_d);
    cuda_detail::set_preference(&pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
        lt_.get(), &plan->desc, &plan->a, &plan->b, &plan->d, &plan->d, &pref, 1, &result, &found);
    if (status == CUBLAS_STATUS_SUCCESS && found > 0) {
      plan->supported = true;
      plan->algo = result.algo;
    } else if (status == CUBLAS_STATUS_SUCCESS || status == CUBLAS_STATUS_NOT_SUPPORTED ||
               g.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
      // No algorithm: an epilogue is then applied by a kernel, a plain
      // product by cublasSgemm.
      plan->supported = false;
    } else {
      check_lt(status, "cublasLtMatmulAlgoGetHeuristic");
    }
    plan->used = true;
  }

  if (!plan->supported) {
    if (g.epilogue != CUBLASLT_EPILOGUE_DEFAULT) return false;
    const float one = 1.0f, zero = 0.0f;
    check_cublas(cublasSgemm_64(blas_.get(), g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &one, g.a,
                                g.lda, g.b, g.ldb, &zero, g.d, g.ldd),
                 "cublasSgemm");
    return true;
  }
  // Same key, possibly another layer's bias: the pointer is set every call.
  if (bias != nullptr) cuda_detail::set_desc(&plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
  const float one = 1.0f, zero = 0.0f;
  check_lt(cublasLtMatmul(lt_.get(), &plan->desc, &one, g.a, &plan->a, g.b, &plan->b, &zero, g.d,
                          &plan->d, g.d, &plan->d, &plan->algo, gemm_workspace_,
                          gemm_workspace_bytes_, stream()),
           "cublasLtMatmul");
  return true;
}

void CudaOps::linear_forward(const LinearLayer& layer, const float* params, const float* x,
                             float* y, int64_t rows) const {
  const float* w = params + layer.weight;
  const float* b = params + layer.bias;
  // Row-major Y[rows, out] = X[rows, in] W^T + b, read column-major:
  //   Y^T[out, rows] = W[out, in] X^T[in, rows] + b 1^T, where
  //   A = W:  row-major [out, in] = column-major [in, out], ld = in, op T -> [out, in];
  //   B = X:  row-major [rows, in] = column-major [in, rows], ld = in, op N;
  //   D = Y:  column-major [out, rows], ld = out;
  //   m = out, n = rows, k = in; the BIAS epilogue adds b (length m) to
  //   every column, RELU_BIAS then applies ReLU.
  Gemm g;
  g.trans_a = true;
  g.trans_b = false;
  g.m = layer.out;
  g.n = rows;
  g.k = layer.in;
  g.a = w;
  g.lda = layer.in;
  g.b = x;
  g.ldb = layer.in;
  g.d = y;
  g.ldd = layer.out;
  g.epilogue = layer.activation == Activation::kRelu ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                     : CUBLASLT_EPILOGUE_BIAS;
  g.bias = b;
  if (gemm(g)) {
    // tanh has no epilogue: the bias came from cuBLASLt, the activation here.
    if (layer.activation == Activation::kTanh) {
      check_cuda(cuda::launch_bias_activation(y, nullptr, rows, layer.out, layer.activation,
                                              stream()),
                 "bias_activation kernel");
    }
    return;
  }
  g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  g.bias = nullptr;
  gemm(g);
  check_cuda(cuda::launch_bias_activation(y, b, rows, layer.out, layer.activation, stream()),
             "bias_activation kernel");
}

void CudaOps::linear_backward(const LinearLayer& layer, const float* params, const float* x,
                              Activation input_activation, const float* dy, float* grads,
                              float* dx, int64_t rows) const {
  if (grads != nullptr) {
    // Row-major dW[out, in] = dy^T[out, rows] X[rows, in], read column-major:
    //   dW^T[in, out] = X^T[in, rows] dy[rows, out], where
    //   A = X:   row-major [rows, in] = column-major [in, rows], ld = in, op N;
    //   B = dy:  row-major [rows, out] = column-major [out, rows], ld = out, op T -> [rows, out];
    //   D = dW:  row-major [out, in] = column-major [in, out], ld = in;
    //   m = in, n = out, k = rows. The BGRADB epilogue writes the sums of
    //   op(B) over k, db[o] = sum_r dy[r, o]: the bias gradient.
    Gemm g;
    g.trans_a = false;
    g.trans_b = true;
    g.m = layer.in;
    g.n = layer.out;
    g.k = rows;
    g.a = x;
    g.lda = layer.in;
    g.b = dy;
    g.ldb = layer.out;
    g.d = grads + layer.weight;
    g.ldd = layer.in;
    g.epilogue = CUBLASLT_EPILOGUE_BGRADB;
    g.bias = grads + layer.bias;
    if (!gemm(g)) {
      if (layer.out > widest_) fail(VAE_ERROR_INTERNAL, "linear_backward: out exceeds the scratch");
      g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
      g.bias = nullptr;
      gemm(g);
      check_cuda(cuda::launch_column_sums(dy, rows, layer.out, column_scratch_, grads + layer.bias,
                                          sm_count_, stream()),
                 "column_sums kernel");
    }
  }
  if (dx != nullptr) {
    // Row-major dX[rows, in] = dy[rows, out] W[out, in], read column-major:
    //   dX^T[in, rows] = W^T[in, out] dy^T[out, rows], where
    //   A = W:   row-major [out, in] = column-major [in, out], ld = in, op N;
    //   B = dy:  row-major [rows, out] = column-major [out, rows], ld = out, op N;
    //   D = dX:  column-major [in, rows], ld = in;
    //   m = in, n = rows, k = out. Then dx *= act'(x) from the stored x.
    Gemm g;
    g.trans_a = false;
    g.trans_b = false;
    g.m = layer.in;
    g.n = rows;
    g.k = layer.out;
    g.a = params + layer.weight;
    g.lda = layer.in;
    g.b = dy;
    g.ldb = layer.out;
    g.d = dx;
    g.ldd = layer.in;
    gemm(g);
    check_cuda(cuda::launch_activation_grad(dx, x, rows * layer.in, input_activation, stream()),
               "activation_grad kernel");
  }
}

}  // namespace vae
