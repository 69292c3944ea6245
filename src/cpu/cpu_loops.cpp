#include "cpu/cpu_loops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/poly_math.h"

// The loops' bodies are forced inline, so each instruction set's version of
// a float loop compiles them for that set.
#define VAE_INLINE __attribute__((always_inline)) inline

namespace vae {
namespace cpu_loops {
namespace {

constexpr int kLanes = 16;
constexpr int64_t kChunk = 256;  // a multiple of kLanes

// The sum of element(0), ..., element(count - 1) in the fixed order of
// cpu_loops.h: 16 partial sums in order, then pairwise. The terms of a chunk
// are computed first, in a plain loop the compiler vectorizes at any width,
// then added into the partial sums.
template <class T, class Element>
VAE_INLINE T lane_sum(int64_t count, Element&& element) {
  T lane[kLanes] = {};
  T terms[kChunk];
  for (int64_t first = 0; first < count; first += kChunk) {
    const int64_t width = std::min(kChunk, count - first);
    for (int64_t j = 0; j < width; ++j) terms[j] = element(first + j);
    int64_t j = 0;
    for (; j + kLanes <= width; j += kLanes) {
      for (int l = 0; l < kLanes; ++l) lane[l] += terms[j + l];
    }
    for (int l = 0; j + l < width; ++l) lane[l] += terms[j + l];
  }
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
  }
  return lane[0];
}

// The row with the output read as out[d] (+ bias[d] when kBias).
template <class T, class Math, bool kBias>
VAE_INLINE T likelihood_row_impl(const Likelihood& lik, const T* learned_log_variance,
                                 const T* out, const T* bias, const T* x, int64_t dim, T* grad,
                                 T scale) {
  const auto o = [&](int64_t d) {
    if constexpr (kBias) {
      return out[d] + bias[d];
    } else {
      return out[d];
    }
  };
  if (!lik.gaussian) {
    if (grad == nullptr) {
      return lane_sum<T>(dim, [&](int64_t d) { return bernoulli_nll<T, Math>(x[d], o(d)); });
    }
    return lane_sum<T>(dim, [&](int64_t d) {
      T g;
      const T nll = bernoulli_nll_and_grad<T, Math>(x[d], o(d), &g);
      grad[d] = g * scale;
      return nll;
    });
  }
  if (lik.decoder_variance()) {  // the row is 2 dim wide: means, then log-variance outputs
    const T m = T(lik.min_log_variance);
    if (grad == nullptr) {
      return lane_sum<T>(dim, [&](int64_t d) {
        return gaussian_nll(x[d], o(d), bounded_log_variance(o(dim + d), m));
      });
    }
    return lane_sum<T>(dim, [&](int64_t d) {
      T g_mean, g_o;
      const T nll = bounded_gaussian_nll_and_grads(x[d], o(d), o(dim + d), m, &g_mean, &g_o);
      grad[d] = g_mean * scale;
      grad[dim + d] = g_o * scale;
      return nll;
    });
  }
  if (lik.variance == VAE_VARIANCE_LEARNED_PER_DIM) {
    const T* v = learned_log_variance;
    if (grad == nullptr) {
      return lane_sum<T>(dim, [&](int64_t d) { return gaussian_nll(x[d], o(d), v[d]); });
    }
    return lane_sum<T>(dim, [&](int64_t d) {
      T g;
      const T nll = gaussian_nll_and_grad_mean(x[d], o(d), v[d], &g);
      grad[d] = g * scale;
      return nll;
    });
  }
  // One log variance for every dimension: its precision once.
  const T v = lik.log_variance(learned_log_variance, 0);
  const T precision = std::exp(-v);
  if (grad == nullptr) {
    return lane_sum<T>(dim, [&](int64_t d) { return gaussian_nll(x[d], o(d), v, precision); });
  }
  return lane_sum<T>(dim, [&](int64_t d) {
    T g;
    const T nll = gaussian_nll_and_grad_mean(x[d], o(d), v, precision, &g);
    grad[d] = g * scale;
    return nll;
  });
}

template <class T, class Math>
VAE_INLINE T likelihood_row_any(const Likelihood& lik, const T* learned_log_variance,
                                const T* out, const T* bias, const T* x, int64_t dim, T* grad,
                                T scale) {
  if (bias != nullptr) {
    return likelihood_row_impl<T, Math, true>(lik, learned_log_variance, out, bias, x, dim, grad,
                                              scale);
  }
  return likelihood_row_impl<T, Math, false>(lik, learned_log_variance, out, nullptr, x, dim,
                                             grad, scale);
}

template <class T>
VAE_INLINE void copy_bias_impl(T* y, const T* bias, int64_t rows, int64_t c0, int64_t c1,
                               int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(y + r * ld + c0, bias + c0, sizeof(T) * static_cast<size_t>(c1 - c0));
  }
}

template <class T>
VAE_INLINE void activate_block_impl(T* y, Activation act, int64_t rows, int64_t c0, int64_t c1,
                                    int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    T* __restrict row = y + r * ld;
    switch (act) {
      case Activation::kRelu:
        for (int64_t c = c0; c < c1; ++c) row[c] = activate(row[c], Activation::kRelu);
        break;
      case Activation::kTanh:
        for (int64_t c = c0; c < c1; ++c) row[c] = activate(row[c], Activation::kTanh);
        break;
      default:
        return;
    }
  }
}

template <class T>
VAE_INLINE void activation_grad_block_impl(T* dx, const T* y, Activation act, int64_t rows,
                                           int64_t c0, int64_t c1, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    T* __restrict d = dx + r * ld;
    const T* __restrict out = y + r * ld;
    switch (act) {
      case Activation::kRelu:
        for (int64_t c = c0; c < c1; ++c) {
          d[c] *= activation_grad_from_output(out[c], Activation::kRelu);
        }
        break;
      case Activation::kTanh:
        for (int64_t c = c0; c < c1; ++c) {
          d[c] *= activation_grad_from_output(out[c], Activation::kTanh);
        }
        break;
      default:
        return;
    }
  }
}

template <class T>
VAE_INLINE void column_sums_impl(const T* v, int64_t rows, int64_t c0, int64_t c1, int64_t ld,
                                 T* sums) {
  T* __restrict s = sums;
  for (int64_t c = c0; c < c1; ++c) s[c] = v[c];
  for (int64_t r = 1; r < rows; ++r) {
    const T* __restrict row = v + r * ld;
    for (int64_t c = c0; c < c1; ++c) s[c] += row[c];
  }
}

// usable_gradient (element_math.h) is false for NaN, infinities and beyond
// 2^62; an integer count, which the compiler may reorder, beside the sum of
// squares in lane_sum's fixed order. A square of a usable element is at
// most 2^124, far inside double's range.
template <class T>
VAE_INLINE size_t check_gradients_impl(const T* v, size_t begin, size_t end,
                                       double* sum_squares) {
  const T* __restrict g = v + begin;
  size_t bad = 0;
  *sum_squares = lane_sum<double>(static_cast<int64_t>(end - begin), [&](int64_t e) {
    bad += !usable_gradient(g[e]);
    const double x = static_cast<double>(g[e]);
    return x * x;
  });
  return bad;
}

template <class T>
VAE_INLINE void adam_range_impl(T* p, const T* g, T* m, T* v, size_t begin, size_t end,
                                const AdamStep& step) {
  T* __restrict pr = p;
  const T* __restrict gr = g;
  T* __restrict mr = m;
  T* __restrict vr = v;
  for (size_t e = begin; e < end; ++e) adam_update(&pr[e], gr[e], &mr[e], &vr[e], step);
}

#if defined(__x86_64__)
#define VAE_TARGET_AVX512 __attribute__((target("avx512f")))
#define VAE_TARGET_AVX2 __attribute__((target("avx2")))

VAE_TARGET_AVX512 float likelihood_row_avx512(const Likelihood& lik, const float* log_variance,
                                              const float* out, const float* x, int64_t dim,
                                              float* grad, float scale, const float* bias) {
  return likelihood_row_any<float, PolyMath>(lik, log_variance, out, bias, x, dim, grad, scale);
}
VAE_TARGET_AVX2 float likelihood_row_avx2(const Likelihood& lik, const float* log_variance,
                                          const float* out, const float* x, int64_t dim,
                                          float* grad, float scale, const float* bias) {
  return likelihood_row_any<float, PolyMath>(lik, log_variance, out, bias, x, dim, grad, scale);
}
// Adam has no AVX-512 version: its two divisions and square root per
// element ran at half AVX2's speed on the dev machine's Zen 4 (Intel's
// AVX-512 divisions are no faster per element either).
VAE_TARGET_AVX2 void adam_range_avx2(float* p, const float* g, float* m, float* v, size_t begin,
                                     size_t end, const AdamStep& step) {
  adam_range_impl(p, g, m, v, begin, end, step);
}
VAE_TARGET_AVX2 size_t check_gradients_avx2(const float* v, size_t begin, size_t end,
                                            double* sum_squares) {
  return check_gradients_impl(v, begin, end, sum_squares);
}
#endif

// The processor's widest, found once.
Isa chosen_isa() {
  static const Isa isa = best_isa();
  return isa;
}

}  // namespace

Isa best_isa() {
#if defined(__x86_64__)
  // Checks that the operating system saves the registers too.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2")) return Isa::kAvx2;
#endif
  return Isa::kBaseline;
}

float likelihood_row_for(Isa isa, const Likelihood& lik, const float* learned_log_variance,
                         const float* out, const float* x, int64_t dim, float* grad, float scale,
                         const float* bias) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512) {
    return likelihood_row_avx512(lik, learned_log_variance, out, x, dim, grad, scale, bias);
  }
  if (isa == Isa::kAvx2) {
    return likelihood_row_avx2(lik, learned_log_variance, out, x, dim, grad, scale, bias);
  }
#endif
  static_cast<void>(isa);
  return likelihood_row_any<float, PolyMath>(lik, learned_log_variance, out, bias, x, dim, grad,
                                             scale);
}

void adam_range_for(Isa isa, float* p, const float* g, float* m, float* v, size_t begin,
                    size_t end, const AdamStep& step) {
#if defined(__x86_64__)
  if (isa != Isa::kBaseline) return adam_range_avx2(p, g, m, v, begin, end, step);
#endif
  static_cast<void>(isa);
  adam_range_impl(p, g, m, v, begin, end, step);
}

size_t check_gradients_for(Isa isa, const float* v, size_t begin, size_t end,
                           double* sum_squares) {
#if defined(__x86_64__)
  if (isa != Isa::kBaseline) return check_gradients_avx2(v, begin, end, sum_squares);
#endif
  static_cast<void>(isa);
  return check_gradients_impl(v, begin, end, sum_squares);
}

float likelihood_row(const Likelihood& lik, const float* learned_log_variance, const float* out,
                     const float* x, int64_t dim, float* grad, float scale, const float* bias) {
  return likelihood_row_for(chosen_isa(), lik, learned_log_variance, out, x, dim, grad, scale,
                            bias);
}
double likelihood_row(const Likelihood& lik, const double* learned_log_variance,
                      const double* out, const double* x, int64_t dim, double* grad,
                      double scale, const double* bias) {
  return likelihood_row_any<double, StdMath>(lik, learned_log_variance, out, bias, x, dim, grad,
                                             scale);
}

void adam_range(float* p, const float* g, float* m, float* v, size_t begin, size_t end,
                const AdamStep& step) {
  adam_range_for(chosen_isa(), p, g, m, v, begin, end, step);
}
void adam_range(double* p, const double* g, double* m, double* v, size_t begin, size_t end,
                const AdamStep& step) {
  adam_range_impl(p, g, m, v, begin, end, step);
}

void copy_bias(float* y, const float* bias, int64_t rows, int64_t c0, int64_t c1, int64_t ld) {
  copy_bias_impl(y, bias, rows, c0, c1, ld);
}
void copy_bias(double* y, const double* bias, int64_t rows, int64_t c0, int64_t c1, int64_t ld) {
  copy_bias_impl(y, bias, rows, c0, c1, ld);
}

void activate_block(float* y, Activation act, int64_t rows, int64_t c0, int64_t c1, int64_t ld) {
  activate_block_impl(y, act, rows, c0, c1, ld);
}
void activate_block(double* y, Activation act, int64_t rows, int64_t c0, int64_t c1, int64_t ld) {
  activate_block_impl(y, act, rows, c0, c1, ld);
}

void activation_grad_block(float* dx, const float* y, Activation act, int64_t rows, int64_t c0,
                           int64_t c1, int64_t ld) {
  activation_grad_block_impl(dx, y, act, rows, c0, c1, ld);
}
void activation_grad_block(double* dx, const double* y, Activation act, int64_t rows, int64_t c0,
                           int64_t c1, int64_t ld) {
  activation_grad_block_impl(dx, y, act, rows, c0, c1, ld);
}

void column_sums(const float* v, int64_t rows, int64_t c0, int64_t c1, int64_t ld, float* sums) {
  column_sums_impl(v, rows, c0, c1, ld, sums);
}
void column_sums(const double* v, int64_t rows, int64_t c0, int64_t c1, int64_t ld, double* sums) {
  column_sums_impl(v, rows, c0, c1, ld, sums);
}

size_t check_gradients(const float* v, size_t begin, size_t end, double* sum_squares) {
  return check_gradients_for(chosen_isa(), v, begin, end, sum_squares);
}
size_t check_gradients(const double* v, size_t begin, size_t end, double* sum_squares) {
  return check_gradients_impl(v, begin, end, sum_squares);
}

}  // namespace cpu_loops
}  // namespace vae
