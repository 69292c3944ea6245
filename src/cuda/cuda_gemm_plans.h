// The cuBLASLt plans of CudaOps's GEMMs (cuda_layers.cpp): per shape, the
// descriptors and the algorithm the heuristic chose, in a fixed number of
// slots.
#pragma once

#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <tuple>

namespace vae::cuda_detail {

// What picks a cuBLASLt algorithm: the shape, the operations, the epilogue,
// the compute type and the alignment of each pointer (the arena's buffers
// start at any float, and cuBLASLt assumes 256-byte alignment unless told).
struct GemmKey {
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0;
  int trans_a = 0, trans_b = 0, epilogue = 0, compute = 0;
  uint32_t align_a = 0, align_b = 0, align_d = 0, align_bias = 0;

  auto tie() const {
    return std::tie(m, n, k, lda, ldb, ldd, trans_a, trans_b, epilogue, compute, align_a,
                    align_b, align_d, align_bias);
  }
  bool operator==(const GemmKey& o) const { return tie() == o.tie(); }
};

// One shape's descriptors, built in place (the opaque structures need no
// allocation), and the algorithm the heuristic chose for it.
struct GemmPlan {
  GemmKey key;
  bool used = false;
  bool supported = false;  // false: cuBLASLt has no algorithm for this key
  cublasLtMatmulDescOpaque_t desc{};
  cublasLtMatrixLayoutOpaque_t a{}, b{}, d{};
  cublasLtMatmulAlgo_t algo{};
};

// A fixed number of plans, replaced round-robin: a model has a few layers,
// each with a forward and two backward products per row count.
struct GemmCache {
  std::array<GemmPlan, 64> plans;
  size_t next = 0;

  GemmPlan* find(const GemmKey& key) {
    for (GemmPlan& p : plans) {
      if (p.used && p.key == key) return &p;
    }
    return nullptr;
  }
};

}  // namespace vae::cuda_detail
