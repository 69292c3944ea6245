#include "cpu/row_nll.h"

#include <cstring>

#include "element_math.h"

// The vector helpers below are inlined into their callers, so no vector
// crosses a function boundary: GCC's note on the ABI of passing AVX vectors
// without AVX enabled does not concern them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace vae {
namespace {

// Eight floats in one vector (GCC's and clang's vector extensions: the
// arithmetic is IEEE per lane, compiled to AVX registers or SSE pairs).
typedef float Floats __attribute__((vector_size(32)));
typedef int32_t Ints __attribute__((vector_size(32)));
typedef uint32_t Bits __attribute__((vector_size(32)));
constexpr int kLanes = 8;

#define VAE_INLINE inline __attribute__((always_inline))

VAE_INLINE Floats splat(float v) { return Floats{v, v, v, v, v, v, v, v}; }

VAE_INLINE Floats load(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

VAE_INLINE Floats select(Ints mask, Floats a, Floats b) {
  Ints bits_a, bits_b;
  std::memcpy(&bits_a, &a, sizeof a);
  std::memcpy(&bits_b, &b, sizeof b);
  const Ints bits = (mask & bits_a) | (~mask & bits_b);
  Floats out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

VAE_INLINE float select(bool mask, float a, float b) { return mask ? a : b; }

VAE_INLINE Floats max_zero(Floats v) { return select(v > splat(0.0f), v, splat(0.0f)); }

VAE_INLINE Floats magnitude(Floats v) {
  Ints bits;
  std::memcpy(&bits, &v, sizeof v);
  bits &= 0x7fffffff;
  Floats out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// e^v for v <= 0 (Cephes' expf): v = n ln 2 + r with |r| <= ln 2 / 2, e^r by
// a degree-6 polynomial, 2^n put into the exponent bits. v is clamped at
// -86, where e^v is below 4e-38: 2^n stays a normal number.
template <class V, class U>
VAE_INLINE V exp_nonpositive(V v) {
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
VAE_INLINE Floats bernoulli_terms(Floats x, Floats l) {
  const Floats e = exp_nonpositive<Floats, Bits>(splat(0.0f) - magnitude(l));
  return max_zero(l) + log1p_unit_series(e) - x * l;
}

VAE_INLINE float lane_sum(Floats v) {
  float sum = 0.0f;
  for (int i = 0; i < kLanes; ++i) sum += v[i];
  return sum;
}

VAE_INLINE float bernoulli_body(const float* x, const float* out, const float* bias,
                                int64_t dim) {
  Floats acc = splat(0.0f);
  int64_t d = 0;
  for (; d + kLanes <= dim; d += kLanes) {
    acc += bernoulli_terms(load(x + d), load(out + d) + load(bias + d));
  }
  float sum = lane_sum(acc);
  for (; d < dim; ++d) sum += bernoulli_nll(x[d], out[d] + bias[d]);
  return sum;
}

VAE_INLINE float gaussian_body(const float* x, const float* out, const float* bias,
                               const float* precision, float offset, int64_t dim) {
  Floats acc = splat(0.0f);
  int64_t d = 0;
  for (; d + kLanes <= dim; d += kLanes) {
    const Floats diff = load(x + d) - (load(out + d) + load(bias + d));
    acc += diff * diff * load(precision + d);
  }
  float sum = lane_sum(acc);
  for (; d < dim; ++d) {
    const float diff = x[d] - (out[d] + bias[d]);
    sum += diff * diff * precision[d];
  }
  return 0.5f * sum + offset;
}

float bernoulli_baseline(const float* x, const float* out, const float* bias, int64_t dim) {
  return bernoulli_body(x, out, bias, dim);
}
float gaussian_baseline(const float* x, const float* out, const float* bias,
                        const float* precision, float offset, int64_t dim) {
  return gaussian_body(x, out, bias, precision, offset, dim);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float bernoulli_avx2(const float* x, const float* out,
                                                         const float* bias, int64_t dim) {
  return bernoulli_body(x, out, bias, dim);
}
__attribute__((target("avx2,fma"))) float gaussian_avx2(const float* x, const float* out,
                                                        const float* bias,
                                                        const float* precision, float offset,
                                                        int64_t dim) {
  return gaussian_body(x, out, bias, precision, offset, dim);
}

bool have_avx2() {
  static const bool have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return have;
}
#endif

}  // namespace

float bernoulli_nll_row(const float* x, const float* out, const float* bias, int64_t dim) {
#if defined(__x86_64__)
  if (have_avx2()) return bernoulli_avx2(x, out, bias, dim);
#endif
  return bernoulli_baseline(x, out, bias, dim);
}

float gaussian_nll_row(const float* x, const float* out, const float* bias,
                       const float* precision, float offset, int64_t dim) {
#if defined(__x86_64__)
  if (have_avx2()) return gaussian_avx2(x, out, bias, precision, offset, dim);
#endif
  return gaussian_baseline(x, out, bias, precision, offset, dim);
}

float exp_nonpositive_poly(float v) { return exp_nonpositive<float, uint32_t>(v); }

float log1p_unit_poly(float e) { return log1p_unit_series(e); }

}  // namespace vae
