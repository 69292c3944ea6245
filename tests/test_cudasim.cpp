// The simulated CUDA device itself (sim/, built with VAE_CUDA_SIMULATOR):
// its kernels' thread semantics and the faults a GPU would hang on or leave
// undefined, its capture rules, and its cuBLASLt against loops written from
// NVIDIA's documentation of column-major GEMM and the epilogues. A fault
// breaks the simulated context for good, as on a device, so each faulting
// case runs in a death test (a fresh process).
#include <gtest/gtest.h>
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "test_support.h"

namespace {

// ---------------------------------------------------------------------------
// Kernels.

// out[block] = sum of the block's thread indices, through shared memory and
// a barrier, then a shuffle tree in warp 0.
__global__ void block_index_sum(int* out) {
  __shared__ int partial[8];
  int v = static_cast<int>(threadIdx.x);
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    int total = 0;
    for (int w = 0; w < 8; ++w) total += partial[w];
    out[blockIdx.x] = total;
  }
}

// __syncthreads_or: non-zero in every thread when one thread's predicate is.
__global__ void any_marked(const int* marks, int* out) {
  const int any = __syncthreads_or(marks[threadIdx.x]);
  out[threadIdx.x] = any;
}

// Thread 5 leaves before the barrier the others wait at.
__global__ void early_exit_before_barrier(int* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// Lane 3 leaves before a full-mask shuffle.
__global__ void early_exit_before_shuffle(int* out) {
  if (threadIdx.x == 3) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

template <class T>
T* device_array(size_t count) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, sizeof(T) * count), cudaSuccess);
  return static_cast<T*>(p);
}

TEST(CudaSim, BarriersSharedMemoryAndShufflesBehaveAsOnTheDevice) {
  int* out = device_array<int>(3);
  ASSERT_EQ(cudasim::launch("block_index_sum", block_index_sum, dim3(3), dim3(256), 0, nullptr,
                            out),
            cudaSuccess);
  std::vector<int> got(3);
  ASSERT_EQ(cudaMemcpy(got.data(), out, sizeof(int) * 3, cudaMemcpyDeviceToHost), cudaSuccess);
  for (int b = 0; b < 3; ++b) EXPECT_EQ(got[b], 255 * 256 / 2) << "block " << b;

  std::vector<int> marks(64, 0);
  marks[41] = 1;
  int* d_marks = device_array<int>(64);
  int* d_any = device_array<int>(64);
  ASSERT_EQ(cudaMemcpy(d_marks, marks.data(), sizeof(int) * 64, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudasim::launch("any_marked", any_marked, dim3(1), dim3(64), 0, nullptr, d_marks,
                            d_any),
            cudaSuccess);
  std::vector<int> any(64);
  ASSERT_EQ(cudaMemcpy(any.data(), d_any, sizeof(int) * 64, cudaMemcpyDeviceToHost), cudaSuccess);
  for (int v : any) EXPECT_NE(v, 0);
  EXPECT_EQ(cudaFree(out), cudaSuccess);
  EXPECT_EQ(cudaFree(d_marks), cudaSuccess);
  EXPECT_EQ(cudaFree(d_any), cudaSuccess);
}

TEST(CudaSim, ABadLaunchShapeIsTheThreadsLastError) {
  int* out = device_array<int>(1);
  EXPECT_EQ(cudasim::launch("block_index_sum", block_index_sum, dim3(1), dim3(2048), 0, nullptr,
                            out),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaFree(out), cudaSuccess);
}

// A fault's text goes to standard error; the process then ends with the
// sticky error of the next synchronization.
void run_and_exit(void (*kernel)(int*), const char* name) {
  int* out = device_array<int>(64);
  static_cast<void>(cudasim::launch(name, kernel, dim3(1), dim3(64), 0, nullptr, out));
  std::exit(static_cast<int>(cudaDeviceSynchronize()) == cudaErrorLaunchFailure ? 3 : 4);
}

TEST(CudaSimDeathTest, ABarrierSomeThreadNeverReachesIsAFaultNamingKernelAndThreads) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_and_exit(early_exit_before_barrier, "early_exit_before_barrier"),
              ::testing::ExitedWithCode(3),
              "kernel early_exit_before_barrier: thread \\(0,0,0\\) of block \\(0,0,0\\) waits at "
              "__syncthreads, but thread \\(5,0,0\\) of block \\(0,0,0\\) has exited");
}

TEST(CudaSimDeathTest, AFullMaskShuffleALaneLeftIsAFault) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_and_exit(early_exit_before_shuffle, "early_exit_before_shuffle"),
              ::testing::ExitedWithCode(3),
              "kernel early_exit_before_shuffle: .* waits at a shuffle of mask 4294967295, but "
              "thread \\(3,0,0\\) of block \\(0,0,0\\) has exited");
}

TEST(CudaSim, CopiesAreCheckedAgainstTheirAllocationAndKind) {
  // cudaMemcpy checks a device range against its allocation; a kernel's
  // overrun is AddressSanitizer's to see (the allocation is a heap block).
  float* d = device_array<float>(4);
  std::vector<float> host(5, 1.0f);
  EXPECT_EQ(cudaMemcpy(d, host.data(), sizeof(float) * 5, cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d, host.data(), sizeof(float) * 4, cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);  // the kind says the destination is host memory
  EXPECT_EQ(cudaFree(d), cudaSuccess);
}

// ---------------------------------------------------------------------------
// Capture.

TEST(CudaSim, CallsCudaForbidsDuringCaptureFailAndInvalidateIt) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  float* d = device_array<float>(16);
  for (int which = 0; which < 3; ++which) {
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_EQ(cudaMemsetAsync(d, 0, 64, s), cudaSuccess);  // recorded, not run
    void* p = nullptr;
    const cudaError_t refused = which == 0   ? cudaMalloc(&p, 16)
                                : which == 1 ? cudaStreamSynchronize(s)
                                             : cudaMemset(d, 0, 64);
    EXPECT_EQ(refused, cudaErrorStreamCaptureUnsupported) << which;
    cudaGraph_t g = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated) << which;
    EXPECT_EQ(g, nullptr);
    static_cast<void>(cudaGetLastError());
  }
  // A capture that ends well records instead of running: the memset runs at
  // each launch of the graph.
  std::vector<float> ones(16, 1.0f);
  ASSERT_EQ(cudaMemcpy(d, ones.data(), 64, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(d, 0, 64, s), cudaSuccess);
  cudaGraph_t g = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  std::vector<float> back(16);
  ASSERT_EQ(cudaMemcpy(back.data(), d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, ones);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(back.data(), d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, std::vector<float>(16, 0.0f));
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  EXPECT_EQ(cudaGraphDestroy(g), cudaSuccess);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

// ---------------------------------------------------------------------------
// cuBLASLt against the documentation: column-major X(i, j) = X[i + j ld],
// D = alpha op(A) op(B) + beta C, then the epilogue.

struct Product {
  bool ta, tb;
  int64_t m, n, k;
  cublasLtEpilogue_t epilogue;
};

// The reference in double.
std::vector<double> reference(const Product& p, const std::vector<float>& a, int64_t lda,
                              const std::vector<float>& b, int64_t ldb,
                              const std::vector<float>& bias, std::vector<double>* bias_grad) {
  std::vector<double> d(static_cast<size_t>(p.m * p.n));
  for (int64_t j = 0; j < p.n; ++j) {
    for (int64_t i = 0; i < p.m; ++i) {
      double sum = 0;
      for (int64_t q = 0; q < p.k; ++q) {
        const double aiq = p.ta ? a[q + i * lda] : a[i + q * lda];
        const double bqj = p.tb ? b[j + q * ldb] : b[q + j * ldb];
        sum += aiq * bqj;
      }
      if (p.epilogue == CUBLASLT_EPILOGUE_BIAS || p.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) {
        sum += bias[i];
      }
      if (p.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) sum = std::max(0.0, sum);
      d[i + j * p.m] = sum;
    }
  }
  if (p.epilogue == CUBLASLT_EPILOGUE_BGRADB) {
    bias_grad->assign(static_cast<size_t>(p.n), 0.0);
    for (int64_t j = 0; j < p.n; ++j) {
      for (int64_t q = 0; q < p.k; ++q) (*bias_grad)[j] += p.tb ? b[j + q * ldb] : b[q + j * ldb];
    }
  }
  return d;
}

TEST(CudaSim, LtMatmulWithEachEpilogueMatchesTheDocumentedProduct) {
  cublasLtHandle_t lt = nullptr;
  ASSERT_EQ(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
  const std::vector<Product> products = {
      {true, false, 7, 5, 11, CUBLASLT_EPILOGUE_DEFAULT},
      {false, false, 9, 4, 6, CUBLASLT_EPILOGUE_BIAS},
      {true, false, 13, 3, 8, CUBLASLT_EPILOGUE_RELU_BIAS},
      {false, true, 6, 10, 12, CUBLASLT_EPILOGUE_BGRADB},
  };
  uint32_t seed = 40;
  for (const Product& p : products) {
    const int64_t a_rows = p.ta ? p.k : p.m, a_cols = p.ta ? p.m : p.k;
    const int64_t b_rows = p.tb ? p.n : p.k, b_cols = p.tb ? p.k : p.n;
    const int64_t lda = a_rows + 2, ldb = b_rows + 1;  // padded leading dimensions
    const auto a = vae::testing::uniform(static_cast<size_t>(lda * a_cols), ++seed, -1.0f, 1.0f);
    const auto b = vae::testing::uniform(static_cast<size_t>(ldb * b_cols), ++seed, -1.0f, 1.0f);
    const int64_t bias_count = p.epilogue == CUBLASLT_EPILOGUE_BGRADB ? p.n : p.m;
    const auto bias = vae::testing::uniform(static_cast<size_t>(bias_count), ++seed, -1.0f, 1.0f);
    float* da = device_array<float>(a.size());
    float* db = device_array<float>(b.size());
    float* dd = device_array<float>(static_cast<size_t>(p.m * p.n));
    float* dbias = device_array<float>(bias.size());
    ASSERT_EQ(cudaMemcpy(da, a.data(), sizeof(float) * a.size(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(db, b.data(), sizeof(float) * b.size(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dbias, bias.data(), sizeof(float) * bias.size(), cudaMemcpyHostToDevice),
              cudaSuccess);

    cublasLtMatmulDescOpaque_t desc{};
    ASSERT_EQ(cublasLtMatmulDescInit(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    const cublasOperation_t ta = p.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = p.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    ASSERT_EQ(cublasLtMatmulDescSetAttribute(&desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatmulDescSetAttribute(&desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatmulDescSetAttribute(&desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &p.epilogue,
                                             sizeof p.epilogue),
              CUBLAS_STATUS_SUCCESS);
    const float* bias_pointer = dbias;
    ASSERT_EQ(cublasLtMatmulDescSetAttribute(&desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                             &bias_pointer, sizeof bias_pointer),
              CUBLAS_STATUS_SUCCESS);
    cublasLtMatrixLayoutOpaque_t la{}, lb{}, ld{};
    ASSERT_EQ(cublasLtMatrixLayoutInit(&la, CUDA_R_32F, a_rows, a_cols, lda), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatrixLayoutInit(&lb, CUDA_R_32F, b_rows, b_cols, ldb), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasLtMatrixLayoutInit(&ld, CUDA_R_32F, p.m, p.n, p.m), CUBLAS_STATUS_SUCCESS);
    cublasLtMatmulPreferenceOpaque_t pref{};
    ASSERT_EQ(cublasLtMatmulPreferenceInit(&pref), CUBLAS_STATUS_SUCCESS);
    const uint32_t align = 4;
    for (auto attribute : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                           CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                           CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                           CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
      ASSERT_EQ(cublasLtMatmulPreferenceSetAttribute(&pref, attribute, &align, sizeof align),
                CUBLAS_STATUS_SUCCESS);
    }
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    ASSERT_EQ(cublasLtMatmulAlgoGetHeuristic(lt, &desc, &la, &lb, &ld, &ld, &pref, 1, &result,
                                             &found),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(found, 1);
    const float one = 1.0f, zero = 0.0f;
    ASSERT_EQ(cublasLtMatmul(lt, &desc, &one, da, &la, db, &lb, &zero, dd, &ld, dd, &ld,
                             &result.algo, nullptr, 0, nullptr),
              CUBLAS_STATUS_SUCCESS);
    std::vector<float> got(static_cast<size_t>(p.m * p.n)), got_bias(bias.size());
    ASSERT_EQ(cudaMemcpy(got.data(), dd, sizeof(float) * got.size(), cudaMemcpyDeviceToHost),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpy(got_bias.data(), dbias, sizeof(float) * bias.size(),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    std::vector<double> want_bias;
    const auto want = reference(p, a, lda, b, ldb, bias, &want_bias);
    for (size_t e = 0; e < want.size(); ++e) {
      EXPECT_NEAR(got[e], want[e], 1e-5 * (1 + std::fabs(want[e]))) << "epilogue " << p.epilogue;
    }
    for (size_t j = 0; j < want_bias.size(); ++j) {
      EXPECT_NEAR(got_bias[j], want_bias[j], 1e-5 * (1 + std::fabs(want_bias[j]))) << "bias " << j;
    }
    for (float* ptr : {da, db, dd, dbias}) EXPECT_EQ(cudaFree(ptr), cudaSuccess);
  }
  EXPECT_EQ(cublasLtDestroy(lt), CUBLAS_STATUS_SUCCESS);
}

TEST(CudaSim, Tf32RoundsTheInputsToTenMantissaBits) {
  // 1 + 2^-11 is not a TF32 number: rounded to nearest, ties away from
  // zero, it becomes 1 + 2^-10. A one-element product shows which it was.
  cublasHandle_t blas = nullptr;
  ASSERT_EQ(cublasCreate(&blas), CUBLAS_STATUS_SUCCESS);
  float* d = device_array<float>(3);
  const std::vector<float> host = {1.0f + std::ldexp(1.0f, -11), 1.0f + std::ldexp(1.0f, -12), 0};
  ASSERT_EQ(cudaMemcpy(d, host.data(), 12, cudaMemcpyHostToDevice), cudaSuccess);
  const float one = 1.0f, zero = 0.0f;
  std::vector<float> out(3);
  for (cublasMath_t mode : {CUBLAS_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH}) {
    ASSERT_EQ(cublasSetMathMode(blas, mode), CUBLAS_STATUS_SUCCESS);
    // The 1 x 1 x 1 product d[2] = d[0] d[0]: exact in float either way.
    ASSERT_EQ(cublasSgemm_64(blas, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d, 1, d, 1, &zero,
                             d + 2, 1),
              CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cudaMemcpy(out.data(), d, 12, cudaMemcpyDeviceToHost), cudaSuccess);
    const double x = mode == CUBLAS_TF32_TENSOR_OP_MATH ? 1.0 + std::ldexp(1.0, -10) : host[0];
    EXPECT_EQ(out[2], static_cast<float>(x * x)) << "math mode " << mode;
  }
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  EXPECT_EQ(cublasDestroy(blas), CUBLAS_STATUS_SUCCESS);
}

// A matmul whose A is 4 bytes past the 256-byte alignment its algorithm was
// chosen for (cuBLASLt's default promise); ends the process with the
// sticky error.
void misaligned_matmul() {
  cublasLtHandle_t lt = nullptr;
  static_cast<void>(cublasLtCreate(&lt));
  float* d = device_array<float>(64);
  cublasLtMatmulDescOpaque_t desc{};
  static_cast<void>(cublasLtMatmulDescInit(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasLtMatrixLayoutOpaque_t l{};
  static_cast<void>(cublasLtMatrixLayoutInit(&l, CUDA_R_32F, 2, 2, 2));
  cublasLtMatmulPreferenceOpaque_t pref{};
  static_cast<void>(cublasLtMatmulPreferenceInit(&pref));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  static_cast<void>(
      cublasLtMatmulAlgoGetHeuristic(lt, &desc, &l, &l, &l, &l, &pref, 1, &result, &found));
  const float one = 1.0f, zero = 0.0f;
  static_cast<void>(cublasLtMatmul(lt, &desc, &one, d + 1, &l, d, &l, &zero, d + 8, &l, d + 8,
                                   &l, &result.algo, nullptr, 0, nullptr));
  std::exit(cudaDeviceSynchronize() == cudaErrorMisalignedAddress ? 3 : 4);
}

TEST(CudaSimDeathTest, AMatmulBelowThePromisedAlignmentFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(misaligned_matmul(), ::testing::ExitedWithCode(3),
              "cublasLtMatmul: A at .* is 4-byte aligned");
}

}  // namespace
