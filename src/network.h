// The VAE's forward and backward passes written once over a backend's
// primitives (CpuOps<T> on the host, CudaOps on the GPU): the layer loop, the
// K samples, the objectives and the estimators. Every buffer lives in one
// arena sized at construction for the largest batch; nothing is allocated
// after that.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "condition.h"
#include "config.h"
#include "mixture_prior.h"
#include "model_math.h"
#include "parameter_layout.h"
#include "shared_step.h"
#include "workspace_cursor.h"

namespace vae {

template <class Ops>
class Network {
 public:
  using T = typename Ops::Scalar;

  // The buffers of the workspace. B = max_batch data points, R = B * K
  // decoder rows (K = samples).
  struct Buffers {
    T* params;
    T* grads;
    T* share_tail;             // [kShareTailFloats] after grads: what ranks sum with them
    T* hook_guard;             // [kHookGuardFloats] after the tail: an overrunning hook's writes
    T* adam_m;
    T* adam_v;
    T* x;                      // [B, D] the model's input
    T* condition;              // [R, C] the rows' conditions (C = 0: none)
    T* encoder_input;          // [B, D + C] [x | c] (C = 0: none; the encoder reads x)
    std::vector<T*> enc_out;   // per encoder layer [B, out]; the last is [mu | logvar]
    T* eps;                    // [R, Z]
    T* z;                      // [R, Z]
    T* decoder_input;          // [R, Z + C] [z | c] (C = 0: none; the decoder reads z)
    T* kl;                     // [B] analytic KL
    T* kl_sample;              // [R] log q(z|x) - log p(z) per sample
    T* prior_resp;             // [R, K] a learned prior's responsibilities (K = 0: none)
    T* prior_grad;             // [R, Z] its -d log p(z) / dz (K = 0: none)
    std::vector<T*> dec_out;   // per decoder layer [R, out]; the last is the output
    T* nll;                    // [R] -log p(x|z)
    T* weight;                 // [R] per-sample gradient weight
    T* row_loss;               // [B]
    T* grad_a;                 // [R, widest] gradient ping-pong buffers (widest >= the output width)
    T* grad_b;
    T* d_mu_logvar;            // [B, 2Z]
    T* loss;                   // [1]
  };

  Network(const Config& config, Ops& ops)
      : layout_(config, Ops::kParameterAlignment),
        ops_(ops),
        dim_(config.input_dim),
        latent_(config.latent_dim),
        condition_dim_(config.condition_dim),
        max_batch_(config.max_batch),
        max_rows_(config.max_batch * config.samples) {
    lik_.gaussian = config.gaussian();
    lik_.variance = config.gaussian() ? config.variance : VAE_VARIANCE_FIXED;
    lik_.fixed_log_variance = config.log_variance;
    lik_.min_log_variance = config.min_log_variance;
    allocate();
  }

  // The floats of the workspace arena of a model of `layout` and these
  // sizes (lay_out takes exactly this many), as N: the estimate of a
  // configuration's memory before anything is allocated
  // (src/host_memory.h, src/cuda/cuda_trainer.cpp).
  template <class N>
  static N arena_floats(const ParameterLayout& layout, int64_t dim, int64_t latent,
                        int64_t max_batch, int64_t max_rows) {
    // The buffers lay_out takes, each padded as WorkspaceCursor pads it,
    // counted in double (no overflow for any configuration).
    const double a = static_cast<double>(WorkspaceCursor<T>::kAlign);
    auto padded = [a](double count) { return std::ceil(count / a) * a; };
    const double B = static_cast<double>(max_batch);
    const double R = static_cast<double>(max_rows);
    const double Z = static_cast<double>(latent);
    const double P = static_cast<double>(layout.total);
    double total = padded(P) + padded(P + kShareTailFloats + kHookGuardFloats) + 2 * padded(P) +
                   padded(B * static_cast<double>(dim));
    const double C = static_cast<double>(layout.condition_dim);
    if (C > 0) {
      total += padded(R * C) + padded(B * (static_cast<double>(dim) + C)) +
               padded(R * (static_cast<double>(latent) + C));
    }
    for (const LinearLayer& l : layout.encoder) total += padded(B * static_cast<double>(l.out));
    for (const LinearLayer& l : layout.decoder) total += padded(R * static_cast<double>(l.out));
    const double K = static_cast<double>(layout.prior_components);
    const double prior = K > 0 ? padded(R * K) + padded(R * Z) : 0.0;
    total += 2 * padded(R * Z) + padded(B) + padded(R) + prior + padded(R) + padded(R) + padded(B) +
             2 * padded(R * static_cast<double>(layout.widest)) + padded(2 * B * Z) + padded(1);
    return static_cast<N>(total);
  }

  const ParameterLayout& layout() const { return layout_; }
  const Likelihood& likelihood() const { return lik_; }
  Buffers& buffers() { return b_; }
  const Buffers& buffers() const { return b_; }
  int64_t max_batch() const { return max_batch_; }
  // Decoder rows the workspace holds: max_batch * samples.
  int64_t max_rows() const { return max_rows_; }

  // The learned prior's parameters in the workspace (components 0: none).
  MixturePrior<T> prior() const {
    MixturePrior<T> p;
    p.components = layout_.prior_components;
    p.latent = latent_;
    p.means = b_.params + layout_.prior_means;
    p.log_variances = b_.params + layout_.prior_log_variances;
    p.logits = b_.params + layout_.prior_logits;
    return p;
  }

  // [mu | logvar] of the n rows of b.x (and their conditions, rows of
  // b.condition), in enc_out.back().
  void encode(int64_t n) {
    const T* in = b_.x;
    if (condition_dim_ > 0) {
      ops_.join_condition(b_.x, dim_, b_.condition, condition_dim_, ConditionRows{}, n,
                          b_.encoder_input);
      in = b_.encoder_input;
    }
    for (size_t l = 0; l < layout_.encoder.size(); ++l) {
      ops_.linear_forward(layout_.encoder[l], b_.params, in, b_.enc_out[l], n);
      in = b_.enc_out[l];
    }
  }

  // The decoder's output for the n * samples latent rows of b.z (row
  // s n + i: sample s of data row i, whose condition is row i of
  // b.condition), in dec_out.back().
  void decode(int64_t n, int64_t samples) {
    const int64_t rows = n * samples;
    const T* in = b_.z;
    if (condition_dim_ > 0) {
      ConditionRows by_data_row;
      by_data_row.modulo = n;
      ops_.join_condition(b_.z, latent_, b_.condition, condition_dim_, by_data_row, rows,
                          b_.decoder_input);
      in = b_.decoder_input;
    }
    for (size_t l = 0; l < layout_.decoder.size(); ++l) {
      ops_.linear_forward(layout_.decoder[l], b_.params, in, b_.dec_out[l], rows);
      in = b_.dec_out[l];
    }
  }

  // Encoder, K samples per row, decoder and likelihood for n rows of b.x:
  // fills kl, kl_sample and nll, and for training (gradient) the
  // likelihood's derivative by the decoder output, in grad_a. The ELBO
  // weights every sample by 1/K, so its derivative is written scaled by the
  // mean's 1/(K B) at once (B = mean_rows(n, noise): n, or the rows of the
  // batch that ranks share); the IWAE weights are known only after
  // combine_samples, and backward applies them.
  void forward(int64_t n, int64_t samples, const NoiseSource& noise, bool gradient,
               int objective = VAE_OBJECTIVE_ELBO) {
    encode(n);
    latent_forward(n, samples, noise, gradient);
    decode(n, samples);
    const T scale =
        objective == VAE_OBJECTIVE_ELBO ? T(1) / T(samples) / T(mean_rows(n, noise)) : T(1);
    ops_.likelihood_forward(lik_, learned_log_variance(), b_.dec_out.back(), b_.x, n * samples,
                            n, dim_, b_.nll, gradient ? b_.grad_a : nullptr, scale);
  }

  // The mean loss of the objective over n rows, in b.loss, with the sample
  // weights the backward pass needs.
  void loss(int64_t n, int64_t samples, int objective, double beta) {
    ops_.combine_samples(objective, n, samples, beta, b_.nll, analytic_kl(), b_.kl_sample,
                         b_.weight, b_.row_loss);
    ops_.mean(b_.row_loss, n, b_.loss);
  }

  // Gradients of the loss, a mean over `mean_rows` rows (n, or the batch of
  // ranks sharing it), into b.grads, after forward(..., gradient = true):
  // the decoder's parameters unless the update is encoder-only, the
  // encoder's unless it is decoder-only.
  void backward(int64_t n, int64_t mean_rows, int64_t samples, int objective, double beta,
                int update) {
    const bool encoder_grads = update != VAE_UPDATE_DECODER;
    backward_to_latent(n, mean_rows, samples, objective, beta, update != VAE_UPDATE_ENCODER,
                       encoder_grads);
    if (!encoder_grads) return;
    T* dy = b_.d_mu_logvar;
    T* dx = b_.grad_a;
    for (size_t l = layout_.encoder.size(); l-- > 0;) {
      const bool first = l == 0;
      const T* in = first ? encoder_input() : b_.enc_out[l - 1];
      const Activation in_act = first ? Activation::kIdentity : layout_.encoder[l - 1].activation;
      ops_.linear_backward(layout_.encoder[l], b_.params, in, in_act, dy, b_.grads,
                           first ? nullptr : dx, n);
      dy = dx;
      dx = dy == b_.grad_a ? b_.grad_b : b_.grad_a;
    }
  }

  // The non-amortized E-step of the lecture (vae_refine_posterior): n rows of
  // b.x whose variational parameters [mu | logvar] (the encoder head's
  // layout) are in enc_out.back() instead of the encoder's outputs. Each
  // row's own negative ELBO (K samples, beta 1) goes to row_loss; with
  // `gradient`, its derivative by the row's parameters to d_mu_logvar,
  // through the decoder as a step of VAE_UPDATE_ENCODER takes it (the
  // decoder's parameters get none, and b.grads is not written).
  void posterior_loss(int64_t n, int64_t samples, const NoiseSource& noise, bool gradient) {
    latent_forward(n, samples, noise, gradient);
    decode(n, samples);
    ops_.likelihood_forward(lik_, learned_log_variance(), b_.dec_out.back(), b_.x, n * samples,
                            n, dim_, b_.nll, gradient ? b_.grad_a : nullptr, T(1) / T(samples));
    ops_.combine_samples(VAE_OBJECTIVE_ELBO, n, samples, 1.0, b_.nll, analytic_kl(),
                         b_.kl_sample, b_.weight, b_.row_loss);
    if (gradient) backward_to_latent(n, 1, samples, VAE_OBJECTIVE_ELBO, 1.0, false, true);
  }


  // Parameter range [begin, end) that an update mode moves.
  void update_range(int update, size_t* begin, size_t* end) const {
    *begin = update == VAE_UPDATE_DECODER ? layout_.encoder_end : 0;
    *end = update == VAE_UPDATE_ENCODER ? layout_.encoder_end : layout_.total;
  }

  const T* learned_log_variance() const {
    return layout_.log_variance_count > 0 ? b_.params + layout_.log_variance : nullptr;
  }

  // The rows the loss of n rows drawn from `noise` is a mean over.
  static int64_t mean_rows(int64_t n, const NoiseSource& noise) {
    return noise.batch_rows > 0 ? noise.batch_rows : n;
  }

 private:
  // What the first layers read: [x | c] and [z | c], or x and z.
  const T* encoder_input() const { return condition_dim_ > 0 ? b_.encoder_input : b_.x; }
  const T* decoder_input() const { return condition_dim_ > 0 ? b_.decoder_input : b_.z; }

  // The analytic KL per row for combine_samples, or null with a learned
  // prior, whose KL is the sampled one.
  const T* analytic_kl() const { return layout_.prior_components > 0 ? nullptr : b_.kl; }

  // z = mu + sigma eps for the K samples of n rows of enc_out.back(), and
  // their KL terms; with a learned prior, kl_sample under it and (for a
  // gradient) the responsibilities and -d log p / dz.
  void latent_forward(int64_t n, int64_t samples, const NoiseSource& noise, bool gradient) {
    ops_.latent_forward(b_.enc_out.back(), n, samples, latent_, noise, b_.eps, b_.z, b_.kl,
                        b_.kl_sample);
    if (layout_.prior_components == 0) return;
    ops_.prior_forward(prior(), b_.enc_out.back(), b_.eps, b_.z, n, n * samples, b_.kl_sample,
                       gradient ? b_.prior_resp : nullptr, gradient ? b_.prior_grad : nullptr);
  }

  // The likelihood's and the decoder's backward pass, after forward(...,
  // gradient = true), with the decoder's parameter gradients when
  // decoder_grads; with latent_grads, on through the reparameterization and
  // the KL to the encoder head's outputs, in d_mu_logvar.
  void backward_to_latent(int64_t n, int64_t mean_rows, int64_t samples, int objective,
                          double beta, bool decoder_grads, bool latent_grads) {
    const int64_t rows = n * samples;
    T* dy = b_.grad_a;
    T* dx = b_.grad_b;
    ops_.likelihood_backward(lik_, learned_log_variance(), b_.dec_out.back(), b_.x, b_.weight,
                             rows, n, mean_rows, dim_, objective == VAE_OBJECTIVE_IWAE, dy,
                             decoder_grads && layout_.log_variance_count > 0
                                 ? b_.grads + layout_.log_variance
                                 : nullptr);
    for (size_t l = layout_.decoder.size(); l-- > 0;) {
      const bool first = l == 0;
      const T* in = first ? decoder_input() : b_.dec_out[l - 1];
      const Activation in_act = first ? Activation::kIdentity : layout_.decoder[l - 1].activation;
      const bool need_dx = latent_grads || !first;
      ops_.linear_backward(layout_.decoder[l], b_.params, in, in_act, dy,
                           decoder_grads ? b_.grads : nullptr, need_dx ? dx : nullptr, rows);
      std::swap(dy, dx);
    }
    if (latent_grads && condition_dim_ > 0) {
      // d/d[z | c] to d/dz: the condition is data, and takes no gradient.
      ops_.copy_columns(dy, latent_ + condition_dim_, rows, latent_, dx);
      std::swap(dy, dx);
    }
    const bool learned_prior = layout_.prior_components > 0;
    if (decoder_grads && learned_prior) {
      ops_.prior_backward(prior(), rows, b_.z, b_.prior_resp, b_.weight, mean_rows, beta,
                          b_.grads + layout_.prior_means, b_.grads + layout_.prior_log_variances,
                          b_.grads + layout_.prior_logits);
    }
    if (!latent_grads) return;
    ops_.latent_backward(objective, n, mean_rows, samples, latent_, beta, b_.enc_out.back(),
                         b_.eps, b_.z, learned_prior ? b_.prior_grad : nullptr, dy, b_.weight,
                         b_.d_mu_logvar);
  }

  // The workspace: every buffer aligned (WorkspaceCursor), laid out once
  // to count and once over the backend's arena.
  void allocate() { lay_out(ops_.allocate(lay_out(nullptr))); }

  size_t lay_out(T* base) {
    const size_t B = static_cast<size_t>(max_batch_);
    const size_t R = static_cast<size_t>(max_rows_);
    const size_t Z = static_cast<size_t>(latent_);
    const size_t P = layout_.total;
    WorkspaceCursor<T> cursor(base);
    auto take = [&cursor](size_t count) { return cursor.take(count); };
    b_.enc_out.clear();
    b_.dec_out.clear();
    b_.params = take(P);
    // The tail right after the gradient (the ranks sum the two as one
    // buffer), and the hook's guard right after the tail.
    b_.grads = take(P + static_cast<size_t>(kShareTailFloats + kHookGuardFloats));
    b_.share_tail = b_.grads != nullptr ? b_.grads + P : nullptr;
    b_.hook_guard = b_.grads != nullptr ? b_.share_tail + kShareTailFloats : nullptr;
    b_.adam_m = take(P);
    b_.adam_v = take(P);
    b_.x = take(B * static_cast<size_t>(dim_));
    const auto C = static_cast<size_t>(condition_dim_);
    b_.condition = C > 0 ? take(R * C) : nullptr;
    b_.encoder_input = C > 0 ? take(B * (static_cast<size_t>(dim_) + C)) : nullptr;
    b_.decoder_input = C > 0 ? take(R * (Z + C)) : nullptr;
    for (const LinearLayer& l : layout_.encoder) b_.enc_out.push_back(take(B * static_cast<size_t>(l.out)));
    b_.eps = take(R * Z);
    b_.z = take(R * Z);
    b_.kl = take(B);
    b_.kl_sample = take(R);
    const auto K = static_cast<size_t>(layout_.prior_components);
    b_.prior_resp = K > 0 ? take(R * K) : nullptr;
    b_.prior_grad = K > 0 ? take(R * Z) : nullptr;
    for (const LinearLayer& l : layout_.decoder) b_.dec_out.push_back(take(R * static_cast<size_t>(l.out)));
    b_.nll = take(R);
    b_.weight = take(R);
    b_.row_loss = take(B);
    b_.grad_a = take(R * static_cast<size_t>(layout_.widest));
    b_.grad_b = take(R * static_cast<size_t>(layout_.widest));
    b_.d_mu_logvar = take(2 * B * Z);
    b_.loss = take(1);
    return cursor.used();
  }

  ParameterLayout layout_;
  Ops& ops_;
  Likelihood lik_;
  int64_t dim_, latent_, condition_dim_, max_batch_, max_rows_;
  Buffers b_{};
};

}  // namespace vae
