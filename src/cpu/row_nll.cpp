#include "cpu/row_nll.h"

#include <cstring>
#include <vector>

#include "element_math.h"

// The vector helpers below are inlined into their callers, so no vector
// crosses a function boundary: GCC's note on the ABI of passing AVX vectors
// without AVX enabled does not concern them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace vae {
namespace {

// Eight or sixteen floats in one vector (GCC's and clang's vector
// extensions: the arithmetic is IEEE per lane, compiled to the widest
// registers the function's target has, or to several narrower ones).
typedef float Floats8 __attribute__((vector_size(32)));
typedef int32_t Ints8 __attribute__((vector_size(32)));
typedef uint32_t Bits8 __attribute__((vector_size(32)));
typedef float Floats16 __attribute__((vector_size(64)));
typedef int32_t Ints16 __attribute__((vector_size(64)));
typedef uint32_t Bits16 __attribute__((vector_size(64)));

// The integer vectors of a float vector's width; for one float, itself.
template <class F>
struct Lanes;
template <>
struct Lanes<Floats8> {
  using Ints = Ints8;
  using Bits = Bits8;
};
template <>
struct Lanes<Floats16> {
  using Ints = Ints16;
  using Bits = Bits16;
};
template <>
struct Lanes<float> {
  using Bits = uint32_t;
};

template <class F>
constexpr int kLanes = static_cast<int>(sizeof(F) / sizeof(float));

#define VAE_INLINE inline __attribute__((always_inline))

template <class F>
VAE_INLINE F load(const float* p) {
  F v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class F, class I>
VAE_INLINE F select(I mask, F a, F b) {
  I bits_a, bits_b;
  std::memcpy(&bits_a, &a, sizeof a);
  std::memcpy(&bits_b, &b, sizeof b);
  const I bits = (mask & bits_a) | (~mask & bits_b);
  F out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

VAE_INLINE float select(bool mask, float a, float b) { return mask ? a : b; }

template <class F>
VAE_INLINE F max_zero(F v) {
  return select(v > F{}, v, F{});
}

template <class F>
VAE_INLINE F magnitude(F v) {
  typename Lanes<F>::Ints bits;
  std::memcpy(&bits, &v, sizeof v);
  bits &= 0x7fffffff;
  F out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// e^v for v <= 0 (Cephes' expf): v = n ln 2 + r with |r| <= ln 2 / 2, e^r by
// a degree-6 polynomial, 2^n put into the exponent bits. v is clamped at
// -86, where e^v is below 4e-38: 2^n stays a normal number.
template <class V>
VAE_INLINE V exp_nonpositive(V v) {
  using U = typename Lanes<V>::Bits;
  const V one = V{} + 1.0f;
  v = select(v < V{} - 86.0f, V{} - 86.0f, v);
  // Rounded to the nearest integer by adding 1.5 * 2^23: the sum's low
  // mantissa bits hold n, which the shift by 23 moves into the exponent
  // (in unsigned arithmetic, so a negative n wraps as it should).
  const V shifted = v * 1.44269504088896341f + 12582912.0f;
  const V n = shifted - 12582912.0f;
  V r = v - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const V r2 = r * r;
  V p = 1.9875691500e-4f * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + one;
  U shifted_bits, p_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted);
  std::memcpy(&p_bits, &p, sizeof p);
  p_bits += shifted_bits << 23;
  std::memcpy(&p, &p_bits, sizeof p);
  return p;
}

// log1p(e) for e in [0, 1] as 2 atanh(t), t = e / (2 + e) <= 1/3: the odd
// series 2 t (1 + t^2/3 + ... + t^12/13), whose first omitted term is below
// 2e-8 of the sum.
template <class V>
VAE_INLINE V log1p_unit_series(V e) {
  const V t = e / (e + 2.0f);
  const V t2 = t * t;
  V s = t2 * (1.0f / 13.0f) + (1.0f / 11.0f);
  s = s * t2 + (1.0f / 9.0f);
  s = s * t2 + (1.0f / 7.0f);
  s = s * t2 + (1.0f / 5.0f);
  s = s * t2 + (1.0f / 3.0f);
  s = s * t2 + 1.0f;
  return (t + t) * s;
}

// softplus(l) - x l per lane.
template <class F>
VAE_INLINE F bernoulli_terms(F x, F l) {
  const F e = exp_nonpositive(F{} - magnitude(l));
  return max_zero(l) + log1p_unit_series(e) - x * l;
}

template <class F>
VAE_INLINE float lane_sum(F v) {
  float sum = 0.0f;
  for (int i = 0; i < kLanes<F>; ++i) sum += v[i];
  return sum;
}

template <class F>
VAE_INLINE float bernoulli_body(const float* x, const float* out, const float* bias,
                                int64_t dim) {
  constexpr int n = kLanes<F>;
  F acc{};
  int64_t d = 0;
  for (; d + n <= dim; d += n) {
    acc += bernoulli_terms(load<F>(x + d), load<F>(out + d) + load<F>(bias + d));
  }
  float sum = lane_sum(acc);
  for (; d < dim; ++d) sum += bernoulli_nll(x[d], out[d] + bias[d]);
  return sum;
}

template <class F>
VAE_INLINE float gaussian_body(const float* x, const float* out, const float* bias,
                               const float* precision, float offset, int64_t dim) {
  constexpr int n = kLanes<F>;
  F acc{};
  int64_t d = 0;
  for (; d + n <= dim; d += n) {
    const F diff = load<F>(x + d) - (load<F>(out + d) + load<F>(bias + d));
    acc += diff * diff * load<F>(precision + d);
  }
  float sum = lane_sum(acc);
  for (; d < dim; ++d) {
    const float diff = x[d] - (out[d] + bias[d]);
    sum += diff * diff * precision[d];
  }
  return 0.5f * sum + offset;
}

float bernoulli_baseline(const float* x, const float* out, const float* bias, int64_t dim) {
  return bernoulli_body<Floats8>(x, out, bias, dim);
}
float gaussian_baseline(const float* x, const float* out, const float* bias,
                        const float* precision, float offset, int64_t dim) {
  return gaussian_body<Floats8>(x, out, bias, precision, offset, dim);
}

#if defined(__x86_64__)
#define VAE_AVX2 __attribute__((target("avx2,fma")))
#define VAE_AVX512 __attribute__((target("avx512f,avx2,fma")))

VAE_AVX2 float bernoulli_avx2(const float* x, const float* out, const float* bias, int64_t dim) {
  return bernoulli_body<Floats8>(x, out, bias, dim);
}
VAE_AVX2 float gaussian_avx2(const float* x, const float* out, const float* bias,
                             const float* precision, float offset, int64_t dim) {
  return gaussian_body<Floats8>(x, out, bias, precision, offset, dim);
}
VAE_AVX512 float bernoulli_avx512(const float* x, const float* out, const float* bias,
                                  int64_t dim) {
  return bernoulli_body<Floats16>(x, out, bias, dim);
}
VAE_AVX512 float gaussian_avx512(const float* x, const float* out, const float* bias,
                                 const float* precision, float offset, int64_t dim) {
  return gaussian_body<Floats16>(x, out, bias, precision, offset, dim);
}

// The widest vectors this processor has: 16 (AVX-512), 8 (AVX2 with FMA)
// or 0 (the baseline's SSE pairs).
int widest_lanes() {
  static const int lanes = __builtin_cpu_supports("avx512f")                              ? 16
                           : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8
                                                                                             : 0;
  return lanes;
}
#else
int widest_lanes() { return 0; }
#endif

}  // namespace

std::vector<int> row_nll_lanes() {
  std::vector<int> lanes;
  for (int l : {16, 8}) {
    if (l <= widest_lanes()) lanes.push_back(l);
  }
  lanes.push_back(0);
  return lanes;
}

float bernoulli_nll_row_at(int lanes, const float* x, const float* out, const float* bias,
                           int64_t dim) {
#if defined(__x86_64__)
  if (lanes == 16 && widest_lanes() >= 16) return bernoulli_avx512(x, out, bias, dim);
  if (lanes == 8 && widest_lanes() >= 8) return bernoulli_avx2(x, out, bias, dim);
#endif
  return bernoulli_baseline(x, out, bias, dim);
}

float gaussian_nll_row_at(int lanes, const float* x, const float* out, const float* bias,
                          const float* precision, float offset, int64_t dim) {
#if defined(__x86_64__)
  if (lanes == 16 && widest_lanes() >= 16) {
    return gaussian_avx512(x, out, bias, precision, offset, dim);
  }
  if (lanes == 8 && widest_lanes() >= 8) return gaussian_avx2(x, out, bias, precision, offset, dim);
#endif
  return gaussian_baseline(x, out, bias, precision, offset, dim);
}

float bernoulli_nll_row(const float* x, const float* out, const float* bias, int64_t dim) {
  return bernoulli_nll_row_at(widest_lanes(), x, out, bias, dim);
}

float gaussian_nll_row(const float* x, const float* out, const float* bias,
                       const float* precision, float offset, int64_t dim) {
  return gaussian_nll_row_at(widest_lanes(), x, out, bias, precision, offset, dim);
}

float exp_nonpositive_poly(float v) { return exp_nonpositive(v); }

float log1p_unit_poly(float e) { return log1p_unit_series(e); }

}  // namespace vae
