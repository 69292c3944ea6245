// The row-level pieces of one step that every backend computes the same way:
// the argument bundles the backends' primitives take, and the per-row
// combination of the K samples into the objective.
#pragma once

#include <cmath>
#include <cstdint>

#include "element_math.h"
#include "evaluation.h"
#include "philox.h"
#include "vae/vae.h"

namespace vae {

// The decoder's likelihood: Bernoulli on logits, or Gaussian on means with a
// log variance that is fixed, one learned scalar, learned per dimension, or
// predicted by the decoder (its output row is then 2 D wide: the means, then
// the log-variance outputs, bounded below by min_log_variance).
struct Likelihood {
  bool gaussian = false;
  int variance = VAE_VARIANCE_FIXED;
  double fixed_log_variance = 0.0;
  double min_log_variance = -9.0;

  // Whether the decoder predicts the variance.
  VAE_HD bool decoder_variance() const { return variance == VAE_VARIANCE_DECODER; }
  // The width of a decoder output row of a model of `dim` dimensions.
  VAE_HD int64_t width(int64_t dim) const { return decoder_variance() ? 2 * dim : dim; }

  // The log variance of dimension d, given the learned parameters (or null).
  template <class T>
  VAE_HD T log_variance(const T* learned, int64_t d) const {
    if (variance == VAE_VARIANCE_LEARNED_SHARED) return learned[0];
    if (variance == VAE_VARIANCE_LEARNED_PER_DIM) return learned[d];
    return T(fixed_log_variance);
  }
  // -log p(x | out) for one element.
  template <class T>
  VAE_HD T nll(T x, T out, T log_var) const {
    return gaussian ? gaussian_nll(x, out, log_var) : bernoulli_nll(x, out);
  }
  // -log p(x | out) and d(-log p)/d out for one element, in one evaluation.
  template <class T>
  VAE_HD T nll_and_grad(T x, T out, T log_var, T* grad) const {
    return gaussian ? gaussian_nll_and_grad_mean(x, out, log_var, grad)
                    : bernoulli_nll_and_grad(x, out, grad);
  }
  // -log p(x_d | o) for element d of a decoder output row o (width(dim) wide).
  template <class T>
  VAE_HD T row_nll(const T* learned, const T* o, T x, int64_t d, int64_t dim) const {
    if (decoder_variance()) {
      return gaussian_nll(x, o[d], bounded_log_variance(o[dim + d], T(min_log_variance)));
    }
    return nll(x, o[d], log_variance(learned, d));
  }
  // The same, writing scale times its derivatives by the row's outputs to
  // g (the row's gradient, width(dim) wide): g[d], and g[dim + d] when the
  // decoder predicts the variance.
  template <class T>
  VAE_HD T row_nll_and_grad(const T* learned, const T* o, T x, int64_t d, int64_t dim, T scale,
                            T* g) const {
    T gd;
    if (decoder_variance()) {
      T go;
      const T value =
          bounded_gaussian_nll_and_grads(x, o[d], o[dim + d], T(min_log_variance), &gd, &go);
      g[d] = gd * scale;
      g[dim + d] = go * scale;
      return value;
    }
    const T value = nll_and_grad(x, o[d], log_variance(learned, d), &gd);
    g[d] = gd * scale;
    return value;
  }
  // What vae_decode reports: Bernoulli probabilities or Gaussian means.
  template <class T>
  VAE_HD T mean(T out) const {
    return gaussian ? out : sigmoid(out);
  }
};

// Where the reparameterization noise comes from: the trainer's generator, or
// (for tests that compare backends and finite differences) an array that the
// caller has written into the workspace's eps buffer.
// The key's counter is read at run time from `counter` (backend memory, the
// step state's step count) when that is not null, so a captured step draws
// new noise at each replay.
// When ranks share a batch (vae_set_allreduce), the n rows are rows
// first_row.. of a batch of batch_rows rows, and each row draws the noise of
// its place in that batch, as one process training the whole batch would;
// batch_rows is also the count the gradient is a mean over. batch_rows 0:
// the n rows are the whole batch.
struct NoiseSource {
  bool injected = false;
  NoiseKey key{};
  const int64_t* counter = nullptr;
  int64_t first_row = 0;
  int64_t batch_rows = 0;
};

// The place among the batch's decoder rows (k * batch_rows + i, sample k of
// row i) of decoder row r = k n + i of the n rows of `noise`: its noise is
// elements place * Z .. place * Z + Z - 1 of the draw.
VAE_HD int64_t noise_row(const NoiseSource& noise, int64_t r, int64_t n) {
  if (noise.batch_rows == 0) return r;
  return (r / n) * noise.batch_rows + noise.first_row + r % n;
}

struct Dataset;

// What a captured training step depends on besides the trainer's fixed
// buffers and options: its row count and, for a step of an epoch, the
// dataset it gathers its rows from.
struct StepGraph {
  int64_t rows = 0;
  const Dataset* dataset = nullptr;
};

// Combines the K samples of data point i (rows k*n + i) into its loss and the
// per-sample weights that scale each sample's gradient (DESIGN.md section 1):
//   ELBO: loss_i = (1/K) sum_k nll_k + beta KL_i,  weight_k = 1/K, where KL_i
//         is kl[i] (analytic), or with kl null (a learned prior) the mean
//         sampled KL (1/K) sum_k kl_k;
//   IWAE: log w_k = -nll_k - beta kl_k (kl_k = log q(z_k|x) - log p(z_k)),
//         loss_i = -(logsumexp_k log w_k - log K), weight_k = softmax_k(log w_k).
// The maximum is subtracted before exponentiating, so no term overflows.
template <class T>
VAE_HD T combine_samples(int objective, int64_t n, int64_t samples, int64_t i, double beta,
                         const T* nll, const T* kl, const T* kl_sample, T* weight) {
  if (objective == VAE_OBJECTIVE_ELBO) {
    T sum = 0, kl_sum = 0;
    for (int64_t k = 0; k < samples; ++k) {
      sum += nll[k * n + i];
      if (kl == nullptr) kl_sum += kl_sample[k * n + i];
      weight[k * n + i] = T(1) / T(samples);
    }
    return sum / T(samples) + T(beta) * (kl != nullptr ? kl[i] : kl_sum / T(samples));
  }
  T top = -INFINITY;
  for (int64_t k = 0; k < samples; ++k) {
    const T lw = -nll[k * n + i] - T(beta) * kl_sample[k * n + i];
    top = lw > top ? lw : top;
  }
  T sum = 0;
  for (int64_t k = 0; k < samples; ++k) {
    const T lw = -nll[k * n + i] - T(beta) * kl_sample[k * n + i];
    weight[k * n + i] = std::exp(lw - top);
    sum += weight[k * n + i];
  }
  for (int64_t k = 0; k < samples; ++k) weight[k * n + i] /= sum;
  return -(top + std::log(sum) - std::log(T(samples)));
}

// Adds lw = log w to two running log-sum-exps that share their maximum:
// top = max lw, sum = sum_k exp(lw_k - top) and sum2 = sum_k exp(2 (lw_k - top)),
// so that logsumexp(lw) = top + log sum and logsumexp(2 lw) = 2 top + log sum2.
// Every exponent is <= 0, so nothing overflows (sum and sum2 lie in [1, K]).
template <class T>
VAE_HD void log_sum_exp_push(T lw, T* top, T* sum, T* sum2) {
  if (lw > *top) {
    const T rescale = std::exp(*top - lw);
    *sum = *sum * rescale + T(1);
    *sum2 = *sum2 * (rescale * rescale) + T(1);
    *top = lw;
  } else {
    const T e = std::exp(lw - *top);
    *sum += e;
    *sum2 += e * e;
  }
}

// The error bars of log p^ = logsumexp(lw) - log K over K weights, from the
// two log-sum-exps above (L1 = top + log sum, L2 = 2 top + log sum2):
//   ESS = (sum_k w_k)^2 / sum_k w_k^2 = exp(2 L1 - L2) = sum^2 / sum2, in [1, K];
//   SE  = sqrt(Var^(w) / K) / mean(w)            (delta method, Var^ unbiased)
//       = sqrt((K exp(L2 - 2 L1) - 1) / (K - 1)) = sqrt((K / ESS - 1) / (K - 1)).
// Rounding can take sum^2 / sum2 a little outside [1, K]: ESS is clamped to
// it, so SE >= 0. With K = 1 the variance is unknown: SE = +infinity.
template <class T>
VAE_HD void weight_statistics(T sum, T sum2, int64_t k, T* std_error, T* ess) {
  const T kt = T(k);
  T e = sum * sum / sum2;
  e = e < T(1) ? T(1) : (e > kt ? kt : e);
  *ess = e;
  *std_error = k > 1 ? std::sqrt((kt / e - T(1)) / (kt - T(1))) : T(INFINITY);
}

// ---- evaluation (src/evaluation.h) -----------------------------------------

// Analytic KL(q(z|x) || p(z)) of one data point from its [mu | logvar] row.
template <class T>
VAE_HD T analytic_kl(const T* mu_logvar, int64_t latent) {
  T sum = 0;
  for (int64_t j = 0; j < latent; ++j) sum += kl_term(mu_logvar[j], mu_logvar[latent + j]);
  return sum;
}

// Latent j of pair g of an evaluation, given its noise e (element g Z + j
// of the call's standard normal array): eps, z (e itself for the prior
// estimator, z ~ p(z)), and its term of log q(z|x) - log p(z) (zero for the
// prior estimator).
template <class T>
VAE_HD T eval_latent(EvalMode mode, T e, int64_t latent, int64_t j, const T* mu_logvar, T* eps,
                     T* z) {
  *eps = e;
  if (mode == EvalMode::kPrior) {
    *z = e;
    return T(0);
  }
  const T l = mu_logvar[latent + j];
  *z = reparameterize(mu_logvar[j], l, e);
  return sampled_kl_term(*z, e, l);
}

// A pair's value (EvalMode) from -log p(x|z) and log q(z|x) - log p(z).
template <class T>
VAE_HD T eval_value(EvalMode mode, T nll, T kl_sample) {
  return mode == EvalMode::kImportance ? -nll - kl_sample : -nll;
}

// Chunk row i (data row c.first_pair_row + i) of an evaluation chunk: starts
// its accumulator, or for a first row begun in an earlier chunk takes it
// from carry_in ([top, sum, sum2], kEvalCarry values); adds the values of its
// pairs in sample order (values[p] for the chunk's pair p); then, when the
// row ends in this chunk, writes its results at index i (kPrior,
// kImportance: out0 = log p^ = log (1/K) sum_k w_k, out1 = its standard
// error and out2 = the ESS, weight_statistics; kElbo: out0 = elbo, out1 =
// reconstruction, out2 = KL from mu_logvar, the row's [mu | logvar], or
// with kl_sample (a learned prior) the mean of the pairs' kl_sample[p],
// summed in sum2, which kElbo leaves free), else
// leaves its accumulator in carry_out. Only row 0 reads carry_in and only
// the last row writes carry_out, so the rows may run at once when the two
// do not overlap.
template <class T>
VAE_HD void accumulate_eval_row(EvalMode mode, const EvalChunk& c, int64_t i, const T* values,
                                const T* kl_sample, const T* mu_logvar, int64_t latent,
                                const T* carry_in,
                                T* carry_out, T* out0, T* out1, T* out2) {
  const int64_t row = c.first_pair_row + i;
  const int64_t begin = (row * c.k > c.first_pair ? row * c.k : c.first_pair) - c.first_pair;
  const int64_t row_end = (row + 1) * c.k - c.first_pair;
  const int64_t end = row_end < c.pairs ? row_end : c.pairs;
  const bool continued = i == 0 && c.continues_first();
  T top = continued ? carry_in[0] : T(-INFINITY);
  T sum = continued ? carry_in[1] : T(0);
  T sum2 = continued ? carry_in[2] : T(0);
  if (mode == EvalMode::kElbo) {
    for (int64_t p = begin; p < end; ++p) {
      sum += values[p];
      if (kl_sample != nullptr) sum2 += kl_sample[p];
    }
  } else {
    for (int64_t p = begin; p < end; ++p) log_sum_exp_push(values[p], &top, &sum, &sum2);
  }
  if (row >= c.done_end()) {
    carry_out[0] = top;
    carry_out[1] = sum;
    carry_out[2] = sum2;
    return;
  }
  if (mode == EvalMode::kElbo) {
    const T kl = kl_sample != nullptr ? sum2 / T(c.k) : analytic_kl(mu_logvar, latent);
    const T reconstruction = sum / T(c.k);
    out0[i] = reconstruction - kl;
    out1[i] = reconstruction;
    out2[i] = kl;
  } else {
    out0[i] = top + std::log(sum) - std::log(T(c.k));
    weight_statistics(sum, sum2, c.k, &out1[i], &out2[i]);
  }
}

// Gradient of the loss, a mean over B rows (the n rows given, or the batch
// of ranks sharing it), with respect to [mu_j | l_j] of one data point,
// given t_k = dL/dz_k of its K samples as backpropagated from the decoder
// (already scaled by weight_k / B):
//   ELBO: dmu = sum_k t_k + beta mu / B
//         dl  = sum_k 1/2 t_k eps_k sigma + 1/2 beta (e^l - 1) / B
//   IWAE: the sampled KL adds beta weight_k z_k / B to t_k and -1/2 beta / B to dl
//         (the weights sum to one).
// With a learned prior (prior_grad not null: -d log p / dz per sample, from
// mixture_prior.h) both objectives take the sampled KL's form, with
// prior_grad in place of z (which is -d log N(z; 0, I) / dz).
template <class T>
VAE_HD void latent_gradient(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                            int64_t latent, int64_t i, int64_t j, double beta,
                            const T* mu_logvar, const T* eps, const T* z, const T* prior_grad,
                            const T* dz, const T* weight, T* d_mu, T* d_logvar) {
  const T mu = mu_logvar[i * 2 * latent + j];
  const T l = mu_logvar[i * 2 * latent + latent + j];
  const T sigma = std::exp(T(0.5) * l);
  const T b = T(beta) / T(mean_rows);
  const bool sampled = objective == VAE_OBJECTIVE_IWAE || prior_grad != nullptr;
  const T* pz = prior_grad != nullptr ? prior_grad : z;
  T gm = 0, gl = 0;
  for (int64_t k = 0; k < samples; ++k) {
    const int64_t e = (k * n + i) * latent + j;
    T t = dz[e];
    if (sampled) t += b * weight[k * n + i] * pz[e];
    gm += t;
    gl += T(0.5) * t * eps[e] * sigma;
  }
  if (!sampled) {
    gm += b * mu;
    gl += T(0.5) * b * (std::exp(l) - T(1));
  } else {
    gl -= T(0.5) * b;
  }
  *d_mu = gm;
  *d_logvar = gl;
}

}  // namespace vae
