// The CPU backend's products through OpenBLAS, cut into blocks for the
// pool's threads. OpenBLAS runs single-threaded (its thread count is one
// setting for the whole process, and its results depend on it), and each
// thread computes a band of the product's rows or columns: whichever
// dimension is the larger, so each thread packs the smaller share of the
// operands (a band of rows packs all of B, a band of columns all of A). The
// inner dimension is never cut, but OpenBLAS picks its kernel by the shape
// it is given (a small block may take its small-matrix kernels), so results
// are the same for a given thread count and may differ in the last bits
// between thread counts, as with OpenBLAS's own threading.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/blas_gemm.h"

namespace vae {

// C[m, n] = alpha op(A) op(B) + beta C, row-major.
template <class T>
struct Gemm {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  T alpha = T(1);
  const T* a = nullptr;
  int64_t lda = 0;
  const T* b = nullptr;
  int64_t ldb = 0;
  T beta = T(0);
  T* c = nullptr;
  int64_t ldc = 0;
};

// Rows [r0, r1) and columns [c0, c1) of C.
struct GemmBlock {
  int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
  bool empty() const { return r0 >= r1 || c0 >= c1; }
};

// Cuts fall on multiples of 8 columns or 4 rows: OpenBLAS computes the
// row-major C as the column-major C^T, whose single-precision kernels work
// in tiles of 16 (or 8) of our columns by 4 of our rows, and a part cut
// elsewhere would add an edge tile. Finer than 16 columns so that 400 or 784
// columns halve exactly. A part gets at least 32 rows or columns and 2^17
// multiply-adds: below that a hand-off costs more than it saves.
constexpr int64_t kGemmColumnCut = 8;
constexpr int64_t kGemmRowCut = 4;
constexpr int64_t kGemmMinBand = 32;
constexpr int64_t kGemmMinWork = int64_t{1} << 17;

// How many parts of at most `threads` the product of m x k by k x n is worth.
inline int gemm_parts(int64_t m, int64_t n, int64_t k, int threads) {
  const int64_t by_band = std::max(m, n) / kGemmMinBand;
  const int64_t by_work = m * n * k / kGemmMinWork;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({threads, by_band, by_work})));
}

// [begin, end) of part p of `parts` over `count`, cut on multiples of `cut`.
inline void part_range(int64_t count, int p, int parts, int64_t cut, int64_t* begin,
                       int64_t* end) {
  const int64_t units = (count + cut - 1) / cut;
  *begin = std::min(count, units * p / parts * cut);
  *end = std::min(count, units * (p + 1) / parts * cut);
}

// Part p of `parts` of C[m, n]: a band across its larger dimension.
inline GemmBlock gemm_block(int64_t m, int64_t n, int p, int parts) {
  GemmBlock block;
  if (m >= n) {
    part_range(m, p, parts, kGemmRowCut, &block.r0, &block.r1);
    block.c1 = n;
  } else {
    part_range(n, p, parts, kGemmColumnCut, &block.c0, &block.c1);
    block.r1 = m;
  }
  return block;
}

// The block of g's product: rows r of C take rows r of op(A) (columns of A
// when ta), columns c take columns c of op(B) (rows of B when tb).
template <class T>
void run_gemm_block(const Gemm<T>& g, const GemmBlock& block) {
  if (block.empty()) return;
  const T* a = g.a + (g.ta ? block.r0 : block.r0 * g.lda);
  const T* b = g.b + (g.tb ? block.c0 * g.ldb : block.c0);
  blas_gemm(g.ta, g.tb, block.r1 - block.r0, block.c1 - block.c0, g.k, g.alpha, a, g.lda, b,
            g.ldb, g.beta, g.c + block.r0 * g.ldc + block.c0, g.ldc);
}

}  // namespace vae
