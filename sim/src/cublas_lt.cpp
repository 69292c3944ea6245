// The simulated cuBLASLt: descriptors kept in the real header's
// semi-opaque structures, the heuristic, and the matmul with its epilogues.
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>

#include "cublasLt.h"
#include "gemm.h"
#include "memory.h"
#include "registry.h"
#include "state.h"

struct cublasLtContext {};

namespace {

constexpr uint32_t kDescMagic = 0x4c74446d, kLayoutMagic = 0x4c744c79, kPrefMagic = 0x4c745072,
                   kAlgoMagic = 0x4c74416c;

struct Desc {
  uint32_t magic;
  cublasComputeType_t compute;
  cublasOperation_t trans_a, trans_b;
  cublasLtEpilogue_t epilogue;
  const void* bias;
};
struct Layout {
  uint32_t magic;
  uint64_t rows, cols;
  int64_t ld;
};
struct Pref {
  uint32_t magic;
  uint64_t max_workspace;
  uint32_t align[4];  // A, B, C, D
};
struct Algo {
  uint32_t magic;
  uint32_t align[4];
  cublasLtEpilogue_t epilogue;
};

// The semi-opaque structures hold ours, as the real library keeps its own.
template <class Ours, class Opaque>
Ours* inside(Opaque* opaque) {
  static_assert(sizeof(Ours) <= sizeof(Opaque) && alignof(Ours) <= alignof(Opaque), "fits");
  return reinterpret_cast<Ours*>(opaque->data);
}
template <class Ours, class Opaque>
const Ours* inside(const Opaque* opaque) {
  return reinterpret_cast<const Ours*>(opaque->data);
}

template <class T>
cublasStatus_t read_value(const void* buf, size_t size, T* out) {
  if (buf == nullptr || size != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(out, buf, sizeof(T));
  return CUBLAS_STATUS_SUCCESS;
}

const char* epilogue_name(cublasLtEpilogue_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: return "DEFAULT";
    case CUBLASLT_EPILOGUE_RELU: return "RELU";
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "RELU_BIAS";
    case CUBLASLT_EPILOGUE_BGRADB: return "BGRADB";
  }
  return nullptr;
}

// Whether CUDASIM_LT_REFUSE names the epilogue.
bool refused(cublasLtEpilogue_t e) {
  const std::string list = "," + cudasim::settings().lt_refuse + ",";
  const char* name = epilogue_name(e);
  return name != nullptr && list.find(std::string(",") + name + ",") != std::string::npos;
}

bool uses_bias(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_RELU_BIAS ||
         e == CUBLASLT_EPILOGUE_BGRADB;
}

// The shapes of a product: op(A) m x k, op(B) k x n, C and D m x n.
struct Shape {
  int64_t m, n, k;
};

bool valid_layout(const Layout* l) {
  return l->magic == kLayoutMagic && l->ld >= std::max<int64_t>(1, static_cast<int64_t>(l->rows));
}

cublasStatus_t shape_of(const Desc* d, const Layout* a, const Layout* b, const Layout* c,
                        const Layout* out, Shape* shape) {
  if (d->magic != kDescMagic || !valid_layout(a) || !valid_layout(b) || !valid_layout(c) ||
      !valid_layout(out)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const bool ta = d->trans_a != CUBLAS_OP_N, tb = d->trans_b != CUBLAS_OP_N;
  const auto m = static_cast<int64_t>(ta ? a->cols : a->rows);
  const auto k = static_cast<int64_t>(ta ? a->rows : a->cols);
  const auto kb = static_cast<int64_t>(tb ? b->cols : b->rows);
  const auto n = static_cast<int64_t>(tb ? b->rows : b->cols);
  if (k != kb || static_cast<int64_t>(out->rows) != m || static_cast<int64_t>(out->cols) != n ||
      c->rows != out->rows || c->cols != out->cols) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *shape = Shape{m, n, k};
  return CUBLAS_STATUS_SUCCESS;
}

uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

bool aligned_as_promised(const char* name, const void* p, uint32_t promised) {
  if (alignment_of(p) >= promised) return true;
  std::ostringstream text;
  text << "cublasLtMatmul: " << name << " at " << p << " is " << alignment_of(p)
       << "-byte aligned, but the algorithm was chosen for " << promised << "-byte alignment";
  cudasim::fault(cudaErrorMisalignedAddress, text.str());
  return false;
}

// The epilogue's work after the product (see cublasLt.h).
void apply_epilogue(cublasLtEpilogue_t e, const cudasim::GemmCall& g, const float* bias_in,
                    float* bias_out) {
  const auto m = static_cast<size_t>(g.m), n = static_cast<size_t>(g.n),
             k = static_cast<size_t>(g.k);
  if (e == CUBLASLT_EPILOGUE_BGRADB) {
    for (size_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (size_t p = 0; p < k; ++p) {
        sum += g.trans_b ? g.b[j + p * static_cast<size_t>(g.ldb)]
                         : g.b[p + j * static_cast<size_t>(g.ldb)];
      }
      bias_out[j] = sum;
    }
    return;
  }
  const bool bias = e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_RELU_BIAS;
  const bool relu = e == CUBLASLT_EPILOGUE_RELU || e == CUBLASLT_EPILOGUE_RELU_BIAS;
  if (!bias && !relu) return;
  for (size_t j = 0; j < n; ++j) {
    float* column = g.d + j * static_cast<size_t>(g.ldd);
    for (size_t i = 0; i < m; ++i) {
      float v = column[i];
      if (bias) v += bias_in[i];
      if (relu) v = v > 0.0f ? v : 0.0f;
      column[i] = v;
    }
  }
}

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = std::make_unique<cublasLtContext>().release();  // until cublasLtDestroy
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  std::unique_ptr<cublasLtContext> owned(handle);
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasLtGetStatusString(cublasStatus_t status) { return cublasGetStatusString(status); }

cublasStatus_t cublasLtMatmulDescInit_internal(cublasLtMatmulDesc_t desc, size_t size,
                                               cublasComputeType_t compute, cudaDataType_t scale) {
  if (desc == nullptr || size != sizeof(*desc) || scale != CUDA_R_32F ||
      (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32)) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *desc = cublasLtMatmulDescOpaque_t{};
  *inside<Desc>(desc) = Desc{kDescMagic, compute, CUBLAS_OP_N, CUBLAS_OP_N,
                             CUBLASLT_EPILOGUE_DEFAULT, nullptr};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attribute,
                                              const void* value, size_t size) {
  if (desc == nullptr || inside<Desc>(desc)->magic != kDescMagic) {
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  Desc& d = *inside<Desc>(desc);
  switch (attribute) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return read_value(value, size, &d.trans_a);
    case CUBLASLT_MATMUL_DESC_TRANSB: return read_value(value, size, &d.trans_b);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: return read_value(value, size, &d.epilogue);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return read_value(value, size, &d.bias);
    default: return CUBLAS_STATUS_INVALID_VALUE;
  }
}

cublasStatus_t cublasLtMatrixLayoutInit_internal(cublasLtMatrixLayout_t layout, size_t size,
                                                 cudaDataType_t type, uint64_t rows,
                                                 uint64_t cols, int64_t ld) {
  if (layout == nullptr || size != sizeof(*layout) || type != CUDA_R_32F) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *layout = cublasLtMatrixLayoutOpaque_t{};
  *inside<Layout>(layout) = Layout{kLayoutMagic, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceInit_internal(cublasLtMatmulPreference_t pref,
                                                     size_t size) {
  if (pref == nullptr || size != sizeof(*pref)) return CUBLAS_STATUS_INVALID_VALUE;
  *pref = cublasLtMatmulPreferenceOpaque_t{};
  // Unless told otherwise, cuBLASLt assumes 256-byte aligned matrices.
  *inside<Pref>(pref) = Pref{kPrefMagic, 0, {256, 256, 256, 256}};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attribute,
                                                    const void* value, size_t size) {
  if (pref == nullptr || inside<Pref>(pref)->magic != kPrefMagic) {
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  Pref& p = *inside<Pref>(pref);
  switch (attribute) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return read_value(value, size, &p.max_workspace);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES: return read_value(value, size, &p.align[0]);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES: return read_value(value, size, &p.align[1]);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES: return read_value(value, size, &p.align[2]);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: return read_value(value, size, &p.align[3]);
    default: return CUBLAS_STATUS_INVALID_VALUE;
  }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t* results,
                                              int* returned) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (desc == nullptr || a == nullptr || b == nullptr || c == nullptr || d == nullptr ||
      pref == nullptr || requested < 1 || results == nullptr || returned == nullptr ||
      inside<Pref>(pref)->magic != kPrefMagic) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *returned = 0;
  Shape shape{};
  const cublasStatus_t status =
      shape_of(inside<Desc>(desc), inside<Layout>(a), inside<Layout>(b), inside<Layout>(c),
               inside<Layout>(d), &shape);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  const cublasLtEpilogue_t epilogue = inside<Desc>(desc)->epilogue;
  if (epilogue_name(epilogue) == nullptr || refused(epilogue)) return CUBLAS_STATUS_NOT_SUPPORTED;
  const Pref& p = *inside<Pref>(pref);
  results[0] = cublasLtMatmulHeuristicResult_t{};
  *inside<Algo>(&results[0].algo) =
      Algo{kAlgoMagic, {p.align[0], p.align[1], p.align[2], p.align[3]}, epilogue};
  results[0].workspaceSize = 0;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                              const void* alpha, const void* a, cublasLtMatrixLayout_t a_layout,
                              const void* b, cublasLtMatrixLayout_t b_layout, const void* beta,
                              const void* c, cublasLtMatrixLayout_t c_layout, void* d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t* algo,
                              void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (desc == nullptr || alpha == nullptr || beta == nullptr || a_layout == nullptr ||
      b_layout == nullptr || c_layout == nullptr || d_layout == nullptr || algo == nullptr ||
      inside<Algo>(algo)->magic != kAlgoMagic) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  const Desc& ds = *inside<Desc>(desc);
  Shape shape{};
  const cublasStatus_t status = shape_of(&ds, inside<Layout>(a_layout), inside<Layout>(b_layout),
                                         inside<Layout>(c_layout), inside<Layout>(d_layout), &shape);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  const Algo& chosen = *inside<Algo>(algo);
  if (chosen.epilogue != ds.epilogue) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace_bytes > 0 && cudasim::check_device_range(workspace, workspace_bytes) != cudaSuccess) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (uses_bias(ds.epilogue) && ds.bias == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (cudasim::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  const Layout& la = *inside<Layout>(a_layout);
  const Layout& lb = *inside<Layout>(b_layout);
  const Layout& lc = *inside<Layout>(c_layout);
  const Layout& ld = *inside<Layout>(d_layout);
  const int64_t bias_count = ds.epilogue == CUBLASLT_EPILOGUE_BGRADB ? shape.n : shape.m;
  if (!aligned_as_promised("A", a, chosen.align[0]) ||
      !aligned_as_promised("B", b, chosen.align[1]) ||
      !aligned_as_promised("C", c, chosen.align[2]) ||
      !aligned_as_promised("D", d, chosen.align[3]) ||
      (uses_bias(ds.epilogue) && !aligned_as_promised("the bias", ds.bias, 4)) ||
      !cudasim::matrix_on_device("cublasLtMatmul", "A", a, static_cast<int64_t>(la.rows),
                                 static_cast<int64_t>(la.cols), la.ld) ||
      !cudasim::matrix_on_device("cublasLtMatmul", "B", b, static_cast<int64_t>(lb.rows),
                                 static_cast<int64_t>(lb.cols), lb.ld) ||
      !cudasim::matrix_on_device("cublasLtMatmul", "C", c, static_cast<int64_t>(lc.rows),
                                 static_cast<int64_t>(lc.cols), lc.ld) ||
      !cudasim::matrix_on_device("cublasLtMatmul", "D", d, static_cast<int64_t>(ld.rows),
                                 static_cast<int64_t>(ld.cols), ld.ld) ||
      (uses_bias(ds.epilogue) &&
       !cudasim::matrix_on_device("cublasLtMatmul", "the bias", ds.bias, bias_count, 1,
                                  bias_count))) {
    return CUBLAS_STATUS_SUCCESS;  // the fault surfaces at the next call, as on a device
  }
  cudasim::GemmCall call;
  call.trans_a = ds.trans_a != CUBLAS_OP_N;
  call.trans_b = ds.trans_b != CUBLAS_OP_N;
  call.m = shape.m;
  call.n = shape.n;
  call.k = shape.k;
  std::memcpy(&call.alpha, alpha, sizeof(float));
  std::memcpy(&call.beta, beta, sizeof(float));
  call.a = static_cast<const float*>(a);
  call.lda = la.ld;
  call.b = static_cast<const float*>(b);
  call.ldb = lb.ld;
  call.c = static_cast<const float*>(c);
  call.ldc = lc.ld;
  call.d = static_cast<float*>(d);
  call.ldd = ld.ld;
  call.tf32 = ds.compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  const cublasLtEpilogue_t epilogue = ds.epilogue;
  auto* bias = static_cast<float*>(const_cast<void*>(ds.bias));
  cudasim::Operation op{"cublasLtMatmul",
                        [call, epilogue, bias] {
                          cudasim::gemm(call);
                          apply_epilogue(epilogue, call, bias, bias);
                        },
                        {}};
  return cudasim::Registry::get().enqueue(stream, std::move(op)) == cudaSuccess
             ? CUBLAS_STATUS_SUCCESS
             : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // extern "C"
