// The lecture's non-amortized E-step on one chunk of rows (vae.h,
// vae_refine_posterior): each row's own variational parameters
// phi_i = (mu_i, log sigma^2_i), initialized from the encoder, improved by
// Adam on that row's ELBO with the decoder fixed,
//   ELBO_i(phi_i) = E_{eps ~ N(0, I)} log p(x_i | mu_i + sigma_i eps) - KL(q_i || p(z)),
// its gradient by phi_i the one a VAE_UPDATE_ENCODER step takes to the
// encoder head's outputs (Network::posterior_loss), pointed at phi_i
// instead. Nothing of the model, its optimizer state or its counters
// changes: phi lives where the encoder head's output does (enc_out.back()),
// its Adam moments in the gradient buffer, which no step keeps between
// calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "config.h"
#include "network.h"
#include "refinement.h"
#include "step_state.h"

namespace vae {

template <class Ops>
class PosteriorRefiner {
 public:
  using T = typename Ops::Scalar;

  PosteriorRefiner(Network<Ops>& net, const Ops& ops, const Config& config)
      : net_(net), ops_(ops), config_(config) {}

  // The rows one chunk takes: at most max_batch; K samples of each in the
  // workspace's max_batch x VAE_OPT_SAMPLES decoder rows (0 when one row's K
  // does not fit); and phi's two Adam moments, 4 Z floats a row, in the
  // gradient buffer (at least 4 Z + Z + 1 floats in every model).
  static int64_t chunk_rows(const Config& config, const ParameterLayout& layout,
                            const RefineSettings& s) {
    const int64_t decoder_rows = config.max_batch * config.samples;
    const auto gradient = static_cast<int64_t>(layout.total);
    return std::min({config.max_batch, decoder_rows / s.samples,
                     gradient / (4 * config.latent_dim)});
  }

  // The chunk's rows in the workspace's x: the encoder's ELBO, T Adam steps
  // (between_steps called before each), the refined ELBO, each ELBO under
  // the same noise; mu and logvar (caller arrays, the chunk's rows) get the
  // refined parameters, elbo_* (host, the chunk's rows) the estimates.
  void run(const RefineChunk& c, const RefineSettings& s,
           const std::function<void()>& between_steps, float* mu, float* logvar,
           double* elbo_encoder, double* elbo_refined) {
    auto& b = net_.buffers();
    const int64_t z = config_.latent_dim;
    const int64_t count = c.rows * 2 * z;
    net_.encode(c.rows);
    add_elbo(c, s, elbo_encoder);
    T* m = b.grads;
    T* v = b.grads + count;
    ops_.fill(m, 2 * count, T(0));
    AdamSettings adam;
    adam.learning_rate = s.learning_rate;
    adam.beta1 = config_.adam_beta1;
    adam.beta2 = config_.adam_beta2;
    adam.epsilon = config_.adam_epsilon;
    for (int64_t t = 0; t < s.steps; ++t) {
      between_steps();
      net_.posterior_loss(c.rows, s.samples, noise(c, t * s.samples), true);
      ops_.posterior_adam(b.enc_out.back(), b.d_mu_logvar, m, v, count, adam_constants(adam, t + 1));
    }
    add_elbo(c, s, elbo_refined);
    ops_.split_mu_logvar(b.enc_out.back(), c.rows, z, b.z, b.eps);
    const auto values = static_cast<size_t>(c.rows * z);
    if (mu != nullptr) ops_.copy_to_caller(mu, b.z, values);
    if (logvar != nullptr) ops_.copy_to_caller(logvar, b.eps, values);
    ops_.synchronize();
  }

 private:
  // The noise of samples [sample, sample + K) of the chunk's rows: sample k
  // of row i (of the call) takes place (sample + k) n_total + i of the
  // call's array, Z elements a place, whatever the chunks.
  NoiseSource noise(const RefineChunk& c, int64_t sample) const {
    NoiseSource source;
    source.key = c.key;
    source.key.offset = static_cast<uint64_t>(sample * c.n_total * config_.latent_dim);
    source.first_row = c.first;
    source.batch_rows = c.n_total;
    return source;
  }

  // elbo[i] = the mean over the call's elbo_samples of log p(x_i | z) -
  // KL(q_i || p(z)) at the current phi, in groups of samples that fit the
  // workspace; the samples after the steps' T K.
  void add_elbo(const RefineChunk& c, const RefineSettings& s, double* elbo) {
    const int64_t group = std::min(s.elbo_samples, config_.max_batch * config_.samples / c.rows);
    std::fill(elbo, elbo + c.rows, 0.0);
    std::vector<float> row_loss(static_cast<size_t>(c.rows));
    for (int64_t first = 0; first < s.elbo_samples; first += group) {
      const int64_t k = std::min(group, s.elbo_samples - first);
      net_.posterior_loss(c.rows, k, noise(c, s.steps * s.samples + first), false);
      ops_.copy_to_host(row_loss.data(), net_.buffers().row_loss, row_loss.size());
      const double share = static_cast<double>(k) / static_cast<double>(s.elbo_samples);
      for (int64_t i = 0; i < c.rows; ++i) elbo[i] -= share * row_loss[static_cast<size_t>(i)];
    }
  }

  Network<Ops>& net_;
  const Ops& ops_;
  const Config& config_;
};

}  // namespace vae
