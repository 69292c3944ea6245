// The CPU backend's element loops over rows and flat buffers, written for
// the compiler to vectorize. The two that compute the most per element, the
// likelihood rows and Adam, are compiled in float for AVX-512, AVX2 and the
// baseline instruction set, and the widest the processor runs is picked on
// first use (cpu_loops.cpp); the float likelihood uses the polynomial exp
// and log1p of poly_math.h. The double versions (the finite-difference
// tests) use the standard library's.
//
// A sum over a row keeps 16 partial sums, lane j taking elements j, j + 16,
// ... in order, then adds them pairwise: the same order for every
// instruction set, thread count and split. Nothing here rounds differently
// on different instruction sets: cpu_loops.cpp is compiled without
// contracting a * b + c into a fused multiply-add.
#pragma once

#include <cstddef>
#include <cstdint>

#include "element_math.h"
#include "model_math.h"

namespace vae {
namespace cpu_loops {

// -log p(x | o) of one row of dim elements, summed as above, where o[d] is
// out[d], or out[d] + bias[d] when bias is not null (the evaluation leaves
// the decoder's output bias to this pass, which reads each output anyway);
// when grad is not null, also grad[d] = scale * d(-log p)/d o[d]. The
// training step's likelihood and the evaluation's (src/cpu/cpu_evaluation.cpp)
// are this one function.
float likelihood_row(const Likelihood& lik, const float* learned_log_variance, const float* out,
                     const float* x, int64_t dim, float* grad, float scale,
                     const float* bias = nullptr);
double likelihood_row(const Likelihood& lik, const double* learned_log_variance,
                      const double* out, const double* x, int64_t dim, double* grad,
                      double scale, const double* bias = nullptr);

// y[r * ld + c] for rows [0, rows), columns [c0, c1): bias[c] copied in
// (before a product adds to it), or act applied in place (after).
void copy_bias(float* y, const float* bias, int64_t rows, int64_t c0, int64_t c1, int64_t ld);
void copy_bias(double* y, const double* bias, int64_t rows, int64_t c0, int64_t c1, int64_t ld);
void activate_block(float* y, Activation act, int64_t rows, int64_t c0, int64_t c1, int64_t ld);
void activate_block(double* y, Activation act, int64_t rows, int64_t c0, int64_t c1, int64_t ld);

// dx[r * ld + c] *= act'(y[r * ld + c]) for the same block.
void activation_grad_block(float* dx, const float* y, Activation act, int64_t rows, int64_t c0,
                           int64_t c1, int64_t ld);
void activation_grad_block(double* dx, const double* y, Activation act, int64_t rows, int64_t c0,
                           int64_t c1, int64_t ld);

// sums[c] = the sum over rows r, in row order, of v[r * ld + c], for c in [c0, c1).
void column_sums(const float* v, int64_t rows, int64_t c0, int64_t c1, int64_t ld, float* sums);
void column_sums(const double* v, int64_t rows, int64_t c0, int64_t c1, int64_t ld, double* sums);

// How many of v[begin, end) a step cannot take: not finite, or beyond
// kLargestGradient (element_math.h); and in the same pass, into
// *sum_squares, the sum of their squares in double, summed as above.
size_t check_gradients(const float* v, size_t begin, size_t end, double* sum_squares);
size_t check_gradients(const double* v, size_t begin, size_t end, double* sum_squares);

// Adam (element_math.h) over [begin, end) of the flat buffers.
void adam_range(float* p, const float* g, float* m, float* v, size_t begin, size_t end,
                const AdamStep& step);
void adam_range(double* p, const double* g, double* m, double* v, size_t begin, size_t end,
                const AdamStep& step);

// The instruction sets the float likelihood rows, Adam and the gradient
// check are compiled for.
enum class Isa { kBaseline, kAvx2, kAvx512 };
// The widest of them this processor runs (always kBaseline off x86-64).
Isa best_isa();
// The likelihood rows and Adam as compiled for `isa`, which the processor
// must run (Adam's widest is AVX2's): the entry points above call
// best_isa()'s; tests compare them.
float likelihood_row_for(Isa isa, const Likelihood& lik, const float* learned_log_variance,
                         const float* out, const float* x, int64_t dim, float* grad,
                         float scale, const float* bias = nullptr);
void adam_range_for(Isa isa, float* p, const float* g, float* m, float* v, size_t begin,
                    size_t end, const AdamStep& step);
size_t check_gradients_for(Isa isa, const float* v, size_t begin, size_t end,
                           double* sum_squares);

}  // namespace cpu_loops
}  // namespace vae
