// -log p(x|out) summed over one decoder row of floats, eight or sixteen
// elements at a time: the likelihood term of the evaluation calls on the CPU
// backend, where it is the one pass besides the GEMMs that reads every
// output. The same sums as Likelihood::nll (src/model_math.h) term by term,
// with exp and log1p by short polynomials (relative error below 3e-7 per
// term; tests/test_row_nll.cpp). On x86-64 the code is compiled for AVX-512
// and for AVX2 with FMA too, the widest the processor has chosen at run
// time; elsewhere for the baseline instruction set. A row's sum is the same
// on every call on one machine (a fixed order of additions).
#pragma once

#include <cstdint>
#include <vector>

namespace vae {

// sum_d softplus(l_d) - x_d l_d over dim logits l = out + bias.
float bernoulli_nll_row(const float* x, const float* out, const float* bias, int64_t dim);

// sum_d 1/2 (x_d - m_d)^2 precision_d + offset over dim means m = out +
// bias: a Gaussian's -log p with precision_d = e^-v_d and offset = 1/2 sum_d
// (v_d + log 2 pi).
float gaussian_nll_row(const float* x, const float* out, const float* bias,
                       const float* precision, float offset, int64_t dim);

// For the tests, which check every path this machine runs: the vector
// widths it has (16: AVX-512, 8: AVX2, 0: the baseline; widest first), the
// row sums at one of them, and exp(v) for v <= 0 and log1p(e) for e in
// [0, 1] as the rows compute them, one value at a time.
std::vector<int> row_nll_lanes();
float bernoulli_nll_row_at(int lanes, const float* x, const float* out, const float* bias,
                           int64_t dim);
float gaussian_nll_row_at(int lanes, const float* x, const float* out, const float* bias,
                          const float* precision, float offset, int64_t dim);
float exp_nonpositive_poly(float v);
float log1p_unit_poly(float e);

}  // namespace vae
