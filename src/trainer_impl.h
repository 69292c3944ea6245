// Trainer implemented over a backend's primitives: Network<Ops> does the
// model, this class moves data between the caller, the datasets and the
// workspace, and runs Adam. The CPU backend instantiates it with
// CpuOps<float> (and the tests with CpuOps<double>), the CUDA backend with
// CudaOps.
#pragma once

#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "caller_rows.h"
#include "error.h"
#include "network.h"
#include "trainer.h"

namespace vae {

template <class Ops>
class TrainerImpl final : public Trainer {
 public:
  using T = typename Ops::Scalar;

  TrainerImpl(const Config& config, std::unique_ptr<Ops> ops)
      : Trainer(config), ops_(std::move(ops)), net_(config, *ops_) {
    initialize_parameters();
  }

  std::vector<float> read_state(StateBuffer which) const override {
    std::vector<float> out(net_.layout().total);
    ops_->copy_to_caller(out.data(), buffer(which), out.size());
    ops_->synchronize();
    return out;
  }

  void write_state(StateBuffer which, const std::vector<float>& values) override {
    if (values.size() != net_.layout().total) {
      fail(VAE_ERROR_INTERNAL, "state buffer of the wrong size");
    }
    ops_->upload_from_caller(buffer(which), values.data(), values.size());
    ops_->synchronize();
  }

  Ops& ops() { return *ops_; }
  Network<Ops>& network() { return net_; }

 protected:
  bool device_backend() const override { return Ops::kDeviceMemory; }

  void apply_options(const Config& config) override { ops_->apply_options(config); }

  void stage_input(const Input& in, int64_t n) override {
    ops_->begin_call();
    auto& b = net_.buffers();
    if (in.x != nullptr) {
      upload_caller_rows(b.x, caller_rows("x", in.x, in.first, n, config_.input_dim));
    } else {
      ops_->gather_rows(*in.dataset, in.first, n, in.shuffled, in.bytes, b.x);
    }
  }

  bool step_forward_backward(int64_t n, const NoiseSource& noise, float* loss) override {
    auto& b = net_.buffers();
    const int64_t k = config_.samples;
    net_.forward(n, k, noise, true);
    net_.loss(n, k, config_.objective, config_.kl_weight);
    net_.backward(n, k, config_.objective, config_.kl_weight, config_.update);
    size_t begin = 0, end = 0;
    net_.update_range(config_.update, &begin, &end);
    return ops_->all_finite(b.loss, b.grads, begin, end, loss);
  }

  void step_update(int update) override {
    auto& b = net_.buffers();
    const size_t split = net_.layout().encoder_end;
    const size_t total = net_.layout().total;
    const bool encoder = update != VAE_UPDATE_DECODER;
    const bool decoder = update != VAE_UPDATE_ENCODER;
    if (encoder && decoder && counters_.encoder_steps == counters_.decoder_steps) {
      ops_->adam(b.params, b.grads, b.adam_m, b.adam_v, 0, total,
                 adam_step(counters_.encoder_steps + 1));
      return;
    }
    if (encoder) {
      ops_->adam(b.params, b.grads, b.adam_m, b.adam_v, 0, split,
                 adam_step(counters_.encoder_steps + 1));
    }
    if (decoder) {
      ops_->adam(b.params, b.grads, b.adam_m, b.adam_v, split, total,
                 adam_step(counters_.decoder_steps + 1));
    }
  }

  void evaluate_rows(int64_t n, const NoiseSource& noise, float* elbo, float* reconstruction,
                     float* kl) override {
    auto& b = net_.buffers();
    net_.forward(n, config_.samples, noise, false);
    ops_->elbo_terms(n, config_.samples, b.nll, b.kl, b.lse_top, b.lse_sum);
    const size_t count = static_cast<size_t>(n);
    if (reconstruction != nullptr) ops_->copy_to_caller(reconstruction, b.lse_top, count);
    if (elbo != nullptr) ops_->copy_to_caller(elbo, b.lse_sum, count);
    if (kl != nullptr) ops_->copy_to_caller(kl, b.kl, count);
    ops_->synchronize();
  }

  void log_likelihood_rows(int64_t n, int32_t k, int estimator, const NoiseKey& key,
                           float* log_px) override {
    auto& b = net_.buffers();
    const int64_t latent = config_.latent_dim;
    const bool importance = estimator == VAE_ESTIMATOR_IMPORTANCE;
    if (importance) net_.encode(n);
    ops_->fill(b.lse_top, n, -INFINITY);
    ops_->fill(b.lse_sum, n, T(0));
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(k, net_.max_rows() / n));
    for (int64_t first = 0; first < k; first += chunk) {
      const int64_t samples = std::min<int64_t>(chunk, k - first);
      NoiseKey part = key;
      part.offset += static_cast<uint64_t>(first * n * latent);
      if (importance) {
        NoiseSource noise;
        noise.key = part;
        ops_->latent_forward(b.enc_out.back(), n, samples, latent, noise, b.eps, b.z, b.kl,
                             b.kl_sample);
      } else {
        ops_->standard_normal(part, n * samples * latent, b.z);
      }
      net_.decode(n * samples);
      ops_->likelihood_forward(net_.likelihood(), net_.learned_log_variance(),
                               b.dec_out.back(), b.x, n * samples, n, config_.input_dim, b.nll,
                               nullptr);
      ops_->accumulate_log_weights(estimator, n, samples, b.nll, b.kl_sample, b.lse_top,
                                   b.lse_sum);
    }
    ops_->finish_log_mean_exp(n, k, b.lse_top, b.lse_sum, b.row_loss);
    ops_->copy_to_caller(log_px, b.row_loss, static_cast<size_t>(n));
    ops_->synchronize();
  }

  void encode_rows(int64_t n, float* mu, float* logvar) override {
    auto& b = net_.buffers();
    ops_->begin_call();
    net_.encode(n);
    ops_->split_mu_logvar(b.enc_out.back(), n, config_.latent_dim, b.z, b.eps);
    const size_t count = static_cast<size_t>(n * config_.latent_dim);
    if (mu != nullptr) ops_->copy_to_caller(mu, b.z, count);
    if (logvar != nullptr) ops_->copy_to_caller(logvar, b.eps, count);
    ops_->synchronize();
  }

  void decode_rows(const float* z, int64_t first, int64_t rows, const NoiseKey* prior,
                   float* mean) override {
    auto& b = net_.buffers();
    ops_->begin_call();
    if (prior != nullptr) {
      ops_->standard_normal(*prior, rows * config_.latent_dim, b.z);
    } else {
      CallerRows latent = caller_rows("z", z, first, rows, config_.latent_dim);
      latent.bernoulli = false;
      upload_caller_rows(b.z, latent);
    }
    net_.decode(rows);
    T* out = b.dec_out.back();
    ops_->output_mean(net_.likelihood(), out, rows * config_.input_dim);
    ops_->copy_to_caller(mean, out, static_cast<size_t>(rows * config_.input_dim));
    ops_->synchronize();
  }

  void copy_gradient(std::vector<double>* gradient) const override {
    gradient->resize(net_.layout().total);
    ops_->copy_to_host(gradient->data(), net_.buffers().grads, gradient->size());
  }

  void upload_noise(const float* eps, int64_t count) override {
    ops_->upload_from_caller(net_.buffers().eps, eps, static_cast<size_t>(count));
  }

  std::unique_ptr<Dataset> make_dataset(const void* data, int64_t n, bool bytes,
                                        int transform) override {
    // As in upload_caller_rows, the CPU backend checks float rows as it copies.
    std::unique_ptr<Dataset> ds;
    if constexpr (Ops::kDeviceMemory) {
      ds = ops_->make_dataset(data, n, config_.input_dim, bytes);
    } else {
      ds = ops_->make_dataset(data, n, config_.input_dim, bytes, !config_.gaussian());
    }
    ds->owner = this;
    ds->rows = n;
    ds->dim = config_.input_dim;
    ds->bytes = bytes;
    ds->transform = static_cast<ByteTransform>(transform);
    return ds;
  }

  // Fisher-Yates with Philox draws: j = floor(u (i + 1)) from 32 random bits
  // by Lemire's multiply-shift, so the order depends only on the key.
  void shuffle(Dataset& ds, const NoiseKey& key) override {
    std::vector<int64_t> order(static_cast<size_t>(ds.rows));
    std::iota(order.begin(), order.end(), int64_t{0});
    for (int64_t i = ds.rows - 1; i > 0; --i) {
      const uint32_t bits = philox_block(key, static_cast<uint64_t>(i)).v[0];
      const int64_t j = static_cast<int64_t>((uint64_t{bits} * static_cast<uint64_t>(i + 1)) >> 32);
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
    }
    ops_->upload_order(ds, order);
  }

  void copy_to_caller(float* dst, const float* host, size_t count) const override {
    ops_->copy_host_floats(dst, host, count);
  }
  void copy_from_caller(float* host, const float* src, size_t count) const override {
    ops_->copy_host_floats(host, src, count);
  }

 private:
  // `rows` rows of `dim` values from the caller's `name`, starting at its
  // row `first`, held to the input rule of this model's likelihood.
  CallerRows caller_rows(const char* name, const float* values, int64_t first, int64_t rows,
                         int64_t dim) const {
    CallerRows r;
    r.name = name;
    r.values = values;
    r.rows = rows;
    r.dim = dim;
    r.first_row = first;
    r.bernoulli = !config_.gaussian();
    return r;
  }

  // Caller rows into the workspace. The CPU backend checks each value as it
  // copies; the CUDA backend copies them unchecked (its check, of host or
  // device memory, is not part of this backend yet).
  void upload_caller_rows(T* dst, const CallerRows& rows) const {
    if constexpr (Ops::kDeviceMemory) {
      ops_->upload_from_caller(dst, rows.values, static_cast<size_t>(rows.count()));
    } else {
      ops_->upload_checked_rows(dst, rows);
    }
  }

  T* buffer(StateBuffer which) const {
    const auto& b = net_.buffers();
    switch (which) {
      case StateBuffer::kAdamFirstMoment: return b.adam_m;
      case StateBuffer::kAdamSecondMoment: return b.adam_v;
      default: return b.params;
    }
  }

  AdamStep adam_step(int64_t t) const {
    AdamStep s;
    s.beta1 = config_.adam_beta1;
    s.beta2 = config_.adam_beta2;
    s.epsilon = config_.adam_epsilon;
    s.step_size = config_.learning_rate / (1.0 - std::pow(config_.adam_beta1, double(t)));
    s.bias2_sqrt = std::sqrt(1.0 - std::pow(config_.adam_beta2, double(t)));
    return s;
  }

  // nn.Linear's default: W and b ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform
  // with a = sqrt(5) gives the same bound for W), drawn from Philox with the
  // seed; the learned log variance starts at VAE_OPT_LOG_VARIANCE. Adam's
  // moments start at zero.
  void initialize_parameters() {
    const ParameterLayout& layout = net_.layout();
    std::vector<float> p(layout.total);
    const NoiseKey init = key(NoiseStream::kInit, 0);
    uint64_t drawn = 0;
    for (const auto* layers : {&layout.encoder, &layout.decoder}) {
      for (const LinearLayer& l : *layers) {
        const float bound = 1.0f / std::sqrt(static_cast<float>(l.in));
        const size_t end = l.bias + static_cast<size_t>(l.out);
        for (size_t e = l.weight; e < end; ++e) {
          p[e] = bound * (2.0f * standard_uniform(init, drawn++) - 1.0f);
        }
      }
    }
    for (int64_t d = 0; d < layout.log_variance_count; ++d) {
      p[layout.log_variance + static_cast<size_t>(d)] = static_cast<float>(config_.log_variance);
    }
    write_state(StateBuffer::kParameters, p);
    const std::vector<float> zeros(layout.total, 0.0f);
    write_state(StateBuffer::kAdamFirstMoment, zeros);
    write_state(StateBuffer::kAdamSecondMoment, zeros);
  }

  std::unique_ptr<Ops> ops_;
  Network<Ops> net_;
};

}  // namespace vae
