// The learned mixture-of-Gaussians prior (VAE_OPT_PRIOR_COMPONENTS = K > 0):
//   p(z) = sum_k pi_k N(z; m_k, diag exp(v_k)),  pi = softmax(a),
// its log density, its derivatives and its draws, per decoder row, shared by
// the CPU backend and the CUDA kernels (kernels/prior.cu).
//
// Densities are relative: every log density here leaves out -Z/2 log 2 pi,
// which log q(z|x) - log p(z) cancels. With
//   s_k(z) = log pi_k - 1/2 sum_j ((z_j - m_kj)^2 e^(-v_kj) + v_kj),
//   log p(z) = logsumexp_k s_k(z),  gamma_k = softmax_k s_k(z) (responsibilities),
//   -d log p / dz_j = sum_k gamma_k (z_j - m_kj) e^(-v_kj),
// and the sampled KL of a sample z = mu + sigma eps of q(z|x) is
//   log q(z|x) - log p(z) = -1/2 sum_j (eps_j^2 + l_j) - log p(z).
#pragma once

#include <cmath>
#include <cstdint>

#include "element_math.h"
#include "evaluation.h"
#include "host_device.h"
#include "philox.h"

namespace vae {

template <class T>
struct MixturePrior {
  const T* means = nullptr;          // [K, Z]
  const T* log_variances = nullptr;  // [K, Z]
  const T* logits = nullptr;         // [K]
  int64_t components = 0;            // K; 0: the standard normal N(0, I)
  int64_t latent = 0;                // Z

  VAE_HD bool learned() const { return components > 0; }

  // log sum_k e^(a_k): log pi_k = a_k minus this.
  VAE_HD T log_normalizer() const {
    T top = logits[0];
    for (int64_t k = 1; k < components; ++k) top = logits[k] > top ? logits[k] : top;
    T sum = 0;
    for (int64_t k = 0; k < components; ++k) sum += std::exp(logits[k] - top);
    return top + std::log(sum);
  }

  // s_k(z) given the normalizer.
  VAE_HD T component_log_density(int64_t k, const T* z, T normalizer) const {
    const T* m = means + k * latent;
    const T* v = log_variances + k * latent;
    T sum = 0;
    for (int64_t j = 0; j < latent; ++j) {
      const T d = z[j] - m[j];
      sum += d * d * std::exp(-v[j]) + v[j];
    }
    return logits[k] - normalizer - T(0.5) * sum;
  }

  // log p(z) (relative), one running log-sum-exp over the components in
  // order. With resp (K values), the responsibilities gamma_k go there.
  VAE_HD T log_density(const T* z, T* resp) const {
    const T normalizer = log_normalizer();
    T top = -INFINITY, sum = 0;
    for (int64_t k = 0; k < components; ++k) {
      const T s = component_log_density(k, z, normalizer);
      if (resp != nullptr) resp[k] = s;
      if (s > top) {
        sum = sum * std::exp(top - s) + T(1);
        top = s;
      } else {
        sum += std::exp(s - top);
      }
    }
    if (resp != nullptr) {
      for (int64_t k = 0; k < components; ++k) resp[k] = std::exp(resp[k] - top) / sum;
    }
    return top + std::log(sum);
  }

  // -d log p / dz_j from the responsibilities.
  VAE_HD T neg_log_density_grad(const T* z, const T* resp, int64_t j) const {
    T g = 0;
    for (int64_t k = 0; k < components; ++k) {
      g += resp[k] * (z[j] - means[k * latent + j]) * std::exp(-log_variances[k * latent + j]);
    }
    return g;
  }

  // The component of a draw u ~ U[0, 1): the first k with
  // pi_0 + ... + pi_k > u (the last one when rounding leaves u above the sum).
  VAE_HD int64_t pick(float u) const {
    const T normalizer = log_normalizer();
    T cumulative = 0;
    for (int64_t k = 0; k + 1 < components; ++k) {
      cumulative += std::exp(logits[k] - normalizer);
      if (T(u) < cumulative) return k;
    }
    return components - 1;
  }
};

// The uniform array whose element g picks the component of draw g of the
// normal array `normal` (same seed and counter; the stream of its own).
VAE_HD NoiseKey mixture_component_key(const NoiseKey& normal) {
  NoiseKey k = normal;
  k.stream = NoiseStream::kPriorComponent;
  k.offset = 0;
  return k;
}

// The sampled KL of one decoder row: log q(z|x) - log p(z) from its noise
// eps, its encoder log variances l and z (all Z values); the
// responsibilities into resp when it is not null.
// One component is one Gaussian (log pi_0 = 0, gamma_0 = 1): its terms are
// summed per latent, 1/2 ((z_j - m_j)^2 e^(-v_j) + v_j - eps_j^2 - l_j), so
// that m = 0, v = 0 gives N(0, I)'s sampled KL (sampled_kl_term) bit for bit.
template <class T>
VAE_HD T mixture_sampled_kl(const MixturePrior<T>& prior, const T* eps, const T* l, const T* z,
                            T* resp) {
  if (prior.components == 1) {
    T sum = 0;
    for (int64_t j = 0; j < prior.latent; ++j) {
      const T d = z[j] - prior.means[j];
      sum += T(0.5) * ((d * d * std::exp(-prior.log_variances[j]) + prior.log_variances[j]) -
                       eps[j] * eps[j] - l[j]);
    }
    if (resp != nullptr) resp[0] = T(1);
    return sum;
  }
  T log_q = 0;
  for (int64_t j = 0; j < prior.latent; ++j) log_q += T(-0.5) * (eps[j] * eps[j] + l[j]);
  return log_q - prior.log_density(z, resp);
}

// A draw of the mixture for one row: component prior.pick(u), then
// z_j = m_j + e^(v_j / 2) eps_j with the row's standard normal eps.
template <class T>
VAE_HD void mixture_draw(const MixturePrior<T>& prior, float u, const T* eps, T* z) {
  const int64_t k = prior.pick(u);
  for (int64_t j = 0; j < prior.latent; ++j) {
    z[j] = reparameterize(prior.means[k * prior.latent + j],
                          prior.log_variances[k * prior.latent + j], eps[j]);
  }
}

// One evaluation pair under the mixture, after eval_latent (model_math.h)
// wrote its eps and z: the prior estimator redraws z from the mixture
// (component by u) and has no KL; the others' z ~ q(z|x) stays, and the
// pair's log q - log p is returned.
template <class T>
VAE_HD T mixture_eval_pair(EvalMode mode, const MixturePrior<T>& prior, float u,
                           const T* mu_logvar, const T* eps, T* z) {
  if (mode == EvalMode::kPrior) {
    mixture_draw(prior, u, eps, z);
    return T(0);
  }
  return mixture_sampled_kl(prior, eps, mu_logvar + prior.latent, z, static_cast<T*>(nullptr));
}

// The gradient of the loss by prior parameter e of the flat block [means |
// log variances | logits] (2 K Z + K values), a sum over the `rows` decoder
// rows in order, row r weighted by c_r = scale * weight[r] (the objective's
// sample weight times beta / the rows the loss is a mean over):
//   d/dm_kj = -sum_r c_r gamma_rk (z_rj - m_kj) e^(-v_kj)
//   d/dv_kj = -sum_r c_r gamma_rk 1/2 ((z_rj - m_kj)^2 e^(-v_kj) - 1)
//   d/da_k  =  sum_r c_r (pi_k - gamma_rk)
template <class T>
VAE_HD T prior_parameter_gradient(const MixturePrior<T>& prior, int64_t e, int64_t rows,
                                  const T* z, const T* resp, const T* weight, T scale) {
  const int64_t K = prior.components, Z = prior.latent;
  T sum = 0;
  if (e >= 2 * K * Z) {
    const int64_t k = e - 2 * K * Z;
    const T pi = std::exp(prior.logits[k] - prior.log_normalizer());
    for (int64_t r = 0; r < rows; ++r) sum += scale * weight[r] * (pi - resp[r * K + k]);
    return sum;
  }
  const bool mean = e < K * Z;
  const int64_t kj = mean ? e : e - K * Z;
  const int64_t k = kj / Z, j = kj % Z;
  const T m = prior.means[kj];
  const T precision = std::exp(-prior.log_variances[kj]);
  for (int64_t r = 0; r < rows; ++r) {
    const T d = z[r * Z + j] - m;
    const T term = mean ? d * precision : T(0.5) * (d * d * precision - T(1));
    sum -= scale * weight[r] * resp[r * K + k] * term;
  }
  return sum;
}

}  // namespace vae
