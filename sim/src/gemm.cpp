#include "gemm.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace cudasim {

float round_to_tf32(float x) {
  if (!std::isfinite(x)) return x;
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits = (bits + 0x1000u) & ~0x1FFFu;  // the 13 low mantissa bits, rounded away
  std::memcpy(&x, &bits, 4);
  return x;
}

void gemm(const GemmCall& g) {
  const auto m = static_cast<size_t>(g.m), n = static_cast<size_t>(g.n),
             k = static_cast<size_t>(g.k);
  if (m == 0 || n == 0) return;
  auto input = [&](float v) { return g.tf32 ? round_to_tf32(v) : v; };
  // op(A) as a contiguous m x k column-major array, op(B) as k x n.
  std::vector<float> a(m * k), b(k * n);
  for (size_t p = 0; p < k; ++p) {
    for (size_t i = 0; i < m; ++i) {
      a[i + p * m] = input(g.trans_a ? g.a[p + i * static_cast<size_t>(g.lda)]
                                     : g.a[i + p * static_cast<size_t>(g.lda)]);
    }
  }
  for (size_t j = 0; j < n; ++j) {
    for (size_t p = 0; p < k; ++p) {
      b[p + j * k] = input(g.trans_b ? g.b[j + p * static_cast<size_t>(g.ldb)]
                                     : g.b[p + j * static_cast<size_t>(g.ldb)]);
    }
  }
  std::vector<float> column(m);
  for (size_t j = 0; j < n; ++j) {
    std::fill(column.begin(), column.end(), 0.0f);
    for (size_t p = 0; p < k; ++p) {
      const float bpj = b[p + j * k];
      const float* ap = &a[p * m];
      for (size_t i = 0; i < m; ++i) column[i] += ap[i] * bpj;
    }
    for (size_t i = 0; i < m; ++i) {
      float v = g.alpha * column[i];
      if (g.beta != 0.0f) v += g.beta * g.c[i + j * static_cast<size_t>(g.ldc)];
      g.d[i + j * static_cast<size_t>(g.ldd)] = v;
    }
  }
}

}  // namespace cudasim
