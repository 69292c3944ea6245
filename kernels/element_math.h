// The per-element mathematics of the VAE, written once for the CPU backend
// and the CUDA kernels (DESIGN.md section 1). T is float or double.
#pragma once

#include <cmath>
#include <cstdint>

#include "host_device.h"

namespace vae {

enum class Activation : int { kRelu = 0, kTanh = 1, kIdentity = 2 };

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// log(1 + e) for e in [0, 1]: log(u) for u = 1 + e rounded, plus the
// rounding error added back, (e - (u - 1)) / u (u - 1 is exact, so this is
// log1p to within an ulp or two; Goldberg 1991). glibc's log is several
// times faster than its log1p, and this runs once per element of every step.
template <class T>
VAE_HD T log1p_unit(T e) {
  const T u = T(1) + e;
  return std::log(u) + (e - (u - T(1))) / u;
}

// The elementary functions the Bernoulli formulas below are written with:
// std::exp and log1p_unit, on the host and in the CUDA kernels. The CPU
// backend's float loops pass PolyMath (src/cpu/poly_math.h), polynomials
// that vectorize, as Math; the formulas stay these.
struct StdMath {
  // e^x, called only with x <= 0.
  template <class T>
  VAE_HD static T exp_nonpositive(T x) {
    return std::exp(x);
  }
  template <class T>
  VAE_HD static T log1p_unit(T e) {
    return vae::log1p_unit(e);
  }
};

// softplus(l) = log(1 + e^l) = max(l, 0) + log1p(e^-|l|): no overflow at any l.
template <class T, class Math = StdMath>
VAE_HD T softplus(T l) {
  return (l > T(0) ? l : T(0)) + Math::log1p_unit(Math::exp_nonpositive(-std::fabs(l)));
}

// sigmoid(l) = 1 / (1 + e^-l), evaluated through e^-|l| <= 1.
template <class T>
VAE_HD T sigmoid(T l) {
  const T e = std::exp(-std::fabs(l));
  return l >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

// Bernoulli with logit l: -log p(x|l) = softplus(l) - x l.
template <class T, class Math = StdMath>
VAE_HD T bernoulli_nll(T x, T l) {
  return softplus<T, Math>(l) - x * l;
}

// d(-log p)/dl = sigmoid(l) - x.
template <class T>
VAE_HD T bernoulli_nll_grad(T x, T l) {
  return sigmoid(l) - x;
}

// Both at once from one exponential, for training: with e = e^-|l|,
// softplus(l) = max(l, 0) + log1p(e) and sigmoid(l) = 1/(1 + e) for l >= 0,
// e/(1 + e) otherwise.
template <class T, class Math = StdMath>
VAE_HD T bernoulli_nll_and_grad(T x, T l, T* grad) {
  const T e = Math::exp_nonpositive(-std::fabs(l));
  const T s = (l >= T(0) ? T(1) : e) / (T(1) + e);
  *grad = s - x;
  return (l > T(0) ? l : T(0)) + Math::log1p_unit(e) - x * l;
}

// Gaussian with mean m and log variance v:
// -log p(x|m, v) = 1/2 ((x - m)^2 e^-v + v + log 2 pi). The forms that take
// the precision e^-v let a loop over rows compute it once per dimension.
template <class T>
VAE_HD T gaussian_nll(T x, T m, T v, T precision) {
  const T d = x - m;
  return T(0.5) * (d * d * precision + v + T(kLog2Pi));
}

template <class T>
VAE_HD T gaussian_nll(T x, T m, T v) {
  return gaussian_nll(x, m, v, std::exp(-v));
}

// d(-log p)/dm = (m - x) e^-v.
template <class T>
VAE_HD T gaussian_nll_grad_mean(T x, T m, T v) {
  return (m - x) * std::exp(-v);
}

// Both at once, for training.
template <class T>
VAE_HD T gaussian_nll_and_grad_mean(T x, T m, T v, T precision, T* grad) {
  const T d = x - m;
  *grad = -d * precision;
  return T(0.5) * (d * d * precision + v + T(kLog2Pi));
}

template <class T>
VAE_HD T gaussian_nll_and_grad_mean(T x, T m, T v, T* grad) {
  return gaussian_nll_and_grad_mean(x, m, v, std::exp(-v), grad);
}

// d(-log p)/dv = 1/2 (1 - (x - m)^2 e^-v), given the precision e^-v.
template <class T>
VAE_HD T gaussian_nll_grad_logvar_from_precision(T x, T m, T precision) {
  const T d = x - m;
  return T(0.5) * (T(1) - d * d * precision);
}

template <class T>
VAE_HD T gaussian_nll_grad_logvar(T x, T m, T v) {
  return gaussian_nll_grad_logvar_from_precision(x, m, std::exp(-v));
}

// A decoder-predicted log variance (VAE_VARIANCE_DECODER) bounded below by
// m: v = m + softplus(o - m) > m from the decoder's output o, with
// dv/do = sigmoid(o - m) in (0, 1), never zero (a clamp's would be).
template <class T>
VAE_HD T bounded_log_variance(T o, T m) {
  return m + softplus(o - m);
}

// -log p(x | mean, v) with v = bounded_log_variance(o, m), and its
// derivatives by the mean, (mean - x) e^-v, and by o,
// 1/2 (1 - (x - mean)^2 e^-v) sigmoid(o - m).
template <class T>
VAE_HD T bounded_gaussian_nll_and_grads(T x, T mean, T o, T m, T* grad_mean, T* grad_o) {
  const T v = bounded_log_variance(o, m);
  const T precision = std::exp(-v);
  const T d = x - mean;
  *grad_mean = -d * precision;
  *grad_o = T(0.5) * (T(1) - d * d * precision) * sigmoid(o - m);
  return T(0.5) * (d * d * precision + v + T(kLog2Pi));
}

// One latent dimension's analytic KL(N(mu, e^l) || N(0, 1)) = 1/2 (mu^2 + e^l - l - 1).
template <class T>
VAE_HD T kl_term(T mu, T l) {
  return T(0.5) * (mu * mu + std::exp(l) - l - T(1));
}

// Reparameterization: z = mu + sigma eps, sigma = e^(l/2).
template <class T>
VAE_HD T reparameterize(T mu, T l, T eps) {
  return mu + std::exp(T(0.5) * l) * eps;
}

// One latent dimension of the single-sample KL, log q(z|x) - log p(z)
// = 1/2 (z^2 - eps^2 - l): the log-density terms of the IWAE weight.
template <class T>
VAE_HD T sampled_kl_term(T z, T eps, T l) {
  return T(0.5) * (z * z - eps * eps - l);
}

// log N(z; 0, 1) for one dimension: -1/2 (z^2 + log 2 pi).
template <class T>
VAE_HD T standard_normal_log_density(T z) {
  return T(-0.5) * (z * z + T(kLog2Pi));
}

template <class T>
VAE_HD T activate(T pre, Activation a) {
  switch (a) {
    case Activation::kRelu: return pre > T(0) ? pre : T(0);
    case Activation::kTanh: return std::tanh(pre);
    default: return pre;
  }
}

// The derivative of the activation written through its output y, so the
// backward pass needs only the stored outputs: relu' = [y > 0], tanh' = 1 - y^2.
template <class T>
VAE_HD T activation_grad_from_output(T y, Activation a) {
  switch (a) {
    case Activation::kRelu: return y > T(0) ? T(1) : T(0);
    case Activation::kTanh: return T(1) - y * y;
    default: return T(1);
  }
}

// Adam as PyTorch's torch.optim.Adam (no weight decay, no amsgrad):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// step_size = lr / (1 - b1^t) and bias2_sqrt = sqrt(1 - b2^t) are computed
// once per step in double, as PyTorch does. g is first multiplied by
// grad_scale, the factor of gradient clipping (kernels/step_state.h), as
// torch.nn.utils.clip_grad_norm_ multiplies the gradient before the step;
// without clipping it is 1, and g * 1 is g exactly.
struct AdamStep {
  double beta1, beta2, epsilon;
  double step_size;
  double bias2_sqrt;
  double grad_scale = 1.0;
};

// The largest gradient element a step takes, 2^62: its square, 2^124, keeps
// Adam's second moment (a convex combination of squares) 16 times below
// FLT_MAX and the first moment below 2^62, whatever beta1 and beta2 are, so
// a step cannot make them overflow. A step with a larger or non-finite
// element is skipped, as one whose loss is not finite.
constexpr float kLargestGradient = 4611686018427387904.0f;  // 2^62

template <class T>
VAE_HD bool usable_gradient(T g) {
  return std::fabs(g) <= T(kLargestGradient);  // false for NaN
}

// A parameter whose update would not be finite keeps its value: 0 / 0 where
// an epsilon below FLT_MIN rounds to 0 in float and m = v = 0, or a first
// moment far above the square root of the second (beta2 near 0) over a tiny
// epsilon. Exact Adam otherwise, and a checkpoint holds finite parameters
// only. (next * 0 == 0 for finite next alone: a select, which vectorizes.)
template <class T>
VAE_HD void adam_update(T* p, T g, T* m, T* v, const AdamStep& s) {
  const T b1 = T(s.beta1), b2 = T(s.beta2);
  g *= T(s.grad_scale);
  *m = b1 * *m + (T(1) - b1) * g;
  *v = b2 * *v + (T(1) - b2) * g * g;
  const T denom = std::sqrt(*v) / T(s.bias2_sqrt) + T(s.epsilon);
  const T next = *p - T(s.step_size) * (*m / denom);
  *p = next * T(0) == T(0) ? next : *p;
}

}  // namespace vae
