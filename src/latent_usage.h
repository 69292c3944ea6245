// The statistics of vae_latent_usage (vae.h) from the encoder's outputs
// over a dataset, on the host in double precision: per-dimension sums taken
// chunk by chunk, and the mutual information of the aggregate posterior.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "element_math.h"
#include "philox.h"

namespace vae {

// Per latent dimension u over the rows added, in row order: the sum of
// KL(q(z_u|x) || N(0, 1)) and the mean and sum of squared deviations of mu_u
// (Welford's update, stable for any offset of the means).
class LatentMoments {
 public:
  explicit LatentMoments(int64_t latent)
      : kl_(static_cast<size_t>(latent)), mean_(kl_.size()), m2_(kl_.size()) {}

  // rows rows of [mu] and [logvar], latent values each.
  void add(const float* mu, const float* logvar, int64_t rows) {
    const auto latent = static_cast<int64_t>(kl_.size());
    for (int64_t i = 0; i < rows; ++i) {
      ++rows_;
      for (int64_t u = 0; u < latent; ++u) {
        const auto j = static_cast<size_t>(u);
        const double m = mu[i * latent + u];
        kl_[j] += kl_term(m, static_cast<double>(logvar[i * latent + u]));
        const double delta = m - mean_[j];
        mean_[j] += delta / static_cast<double>(rows_);
        m2_[j] += delta * (m - mean_[j]);
      }
    }
  }

  int64_t rows() const { return rows_; }
  // (1/N) sum_i KL of dimension u.
  double kl(int64_t u) const { return kl_[static_cast<size_t>(u)] / static_cast<double>(rows_); }
  // The unbiased sample variance of mu_u over the rows (0 for one row).
  double activity(int64_t u) const {
    return rows_ > 1 ? m2_[static_cast<size_t>(u)] / static_cast<double>(rows_ - 1) : 0.0;
  }
  double kl_total() const {
    double sum = 0;
    for (double k : kl_) sum += k;
    return sum / static_cast<double>(rows_);
  }

 private:
  int64_t rows_ = 0;
  std::vector<double> kl_, mean_, m2_;
};

struct MutualInformation {
  double estimate = 0;
  double std_error = 0;
};

// I_q(x; z) = E_i E_{z ~ q(z|x_i)} [log q(z|x_i) - log q(z)] with
// q(z) = (1/N) sum_k q(z|x_k) summed exactly over the n rows of mu, logvar
// ([n, latent] each). Outer rows: the m-th of `outer` rows evenly spaced,
// row floor(m n / outer), each with `samples` draws z = mu + sigma eps, eps
// element (m samples + s) latent + j of `key`'s normal array. Returns the
// mean of the terms and their sample standard deviation / sqrt(terms).
// check(m) runs before outer row m (it may throw to stop).
inline MutualInformation mutual_information(const float* mu, const float* logvar, int64_t n,
                                            int64_t latent, int64_t outer, int64_t samples,
                                            const NoiseKey& key,
                                            const std::function<void(int64_t)>& check) {
  // Per row k: log q(z|x_k) = c_k - 1/2 sum_j (z_j - mu_kj)^2 precision_kj.
  const auto values = static_cast<size_t>(n * latent);
  std::vector<double> mean(values), precision(values), constant(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    double c = 0;
    for (int64_t j = 0; j < latent; ++j) {
      const auto e = static_cast<size_t>(k * latent + j);
      mean[e] = mu[e];
      precision[e] = std::exp(-static_cast<double>(logvar[e]));
      c -= 0.5 * (static_cast<double>(logvar[e]) + kLog2Pi);
    }
    constant[static_cast<size_t>(k)] = c;
  }
  auto log_q = [&](const double* z, int64_t k) {
    double sum = 0;
    for (int64_t j = 0; j < latent; ++j) {
      const auto e = static_cast<size_t>(k * latent + j);
      const double d = z[j] - mean[e];
      sum += d * d * precision[e];
    }
    return constant[static_cast<size_t>(k)] - 0.5 * sum;
  };
  NormalSequence noise(key);
  std::vector<double> z(static_cast<size_t>(latent)), terms(static_cast<size_t>(n));
  double mean_term = 0, m2 = 0;  // Welford's running mean and squared deviations
  int64_t count = 0;
  const double log_n = std::log(static_cast<double>(n));
  for (int64_t m = 0; m < outer; ++m) {
    check(m);
    const int64_t row = m * n / outer;
    for (int64_t s = 0; s < samples; ++s) {
      for (int64_t j = 0; j < latent; ++j) {
        const auto e = static_cast<size_t>(row * latent + j);
        const double eps = noise.at(static_cast<uint64_t>((m * samples + s) * latent + j));
        z[static_cast<size_t>(j)] = mean[e] + std::exp(0.5 * logvar[e]) * eps;
      }
      for (int64_t k = 0; k < n; ++k) terms[static_cast<size_t>(k)] = log_q(z.data(), k);
      const double top = *std::max_element(terms.begin(), terms.end());
      double mixture = 0;
      for (double t : terms) mixture += std::exp(t - top);
      const double term = terms[static_cast<size_t>(row)] - (top + std::log(mixture) - log_n);
      ++count;
      const double delta = term - mean_term;
      mean_term += delta / static_cast<double>(count);
      m2 += delta * (term - mean_term);
    }
  }
  MutualInformation mi;
  mi.estimate = mean_term;
  if (count > 1) {
    const auto terms_count = static_cast<double>(count);
    mi.std_error = std::sqrt(m2 / (terms_count - 1) / terms_count);
  }
  return mi;
}

}  // namespace vae
