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

  // The state buffers in the packed layout; the workspace holds them in the
  // backend's (padded) layout.
  std::vector<float> read_state(StateBuffer which) const override {
    ops_->begin_call();
    const ParameterLayout& layout = net_.layout();
    std::vector<float> padded(layout.total);
    ops_->copy_to_caller(padded.data(), buffer(which), padded.size());
    ops_->synchronize();
    std::vector<float> packed(layout.packed_total);
    layout.pack(padded.data(), packed.data());
    return packed;
  }

  void write_state(StateBuffer which, const std::vector<float>& values) override {
    ops_->begin_call();
    const ParameterLayout& layout = net_.layout();
    if (values.size() != layout.packed_total) {
      fail(VAE_ERROR_INTERNAL, "state buffer of the wrong size");
    }
    std::vector<float> padded(layout.total);
    layout.unpack(values.data(), padded.data());
    ops_->upload_from_caller(buffer(which), padded.data(), padded.size());
    ops_->synchronize();
  }

  void set_cuda_stream(void* stream) override { ops_->set_stream(stream); }

  Ops& ops() { return *ops_; }
  Network<Ops>& network() { return net_; }

 protected:
  bool device_backend() const override { return Ops::kDeviceMemory; }

  void apply_options() override { ops_->apply_options(config_); }

  void stage_input(const Input& in, int64_t n) override {
    ops_->begin_call();
    auto& b = net_.buffers();
    if (in.x != nullptr) {
      ops_->upload_from_caller(b.x, in.x, static_cast<size_t>(n * config_.input_dim));
    } else {
      ops_->gather_rows(*in.dataset, in.first, n, in.bytes, nullptr, b.x);
    }
  }

  void enqueue_step(const float* x, const Dataset* epoch, int64_t n, const float* eps) override {
    if (x != nullptr) {
      Input in;
      in.x = x;
      stage_input(in, n);
    } else {
      ops_->begin_call();
    }
    if (eps != nullptr) {
      upload_noise(eps, n * config_.samples * config_.latent_dim);
      step_on_staged_rows(n, true, false);
      return;
    }
    // The same launches every time for a given shape, so the backend may
    // replay them from a captured graph.
    StepGraph graph;
    graph.rows = n;
    if (epoch != nullptr) graph.dataset = epoch;
    ops_->run_captured(graph, [&] {
      if (epoch != nullptr) {
        ops_->gather_rows(*epoch, 0, n, key(NoiseStream::kBytes, 0), ops_->step_state(),
                          net_.buffers().x);
      }
      step_on_staged_rows(n, false, epoch != nullptr);
    });
  }

  float forward_backward(int64_t n) override {
    NoiseSource noise;
    noise.injected = true;
    forward_backward(n, noise);
    return read_loss();
  }

  StepState read_step_state() const override { return ops_->read_step_state(); }
  void write_step_state(const StepState& s) override { ops_->write_step_state(s); }
  float read_loss() const override { return ops_->read_value(net_.buffers().loss); }

  void begin_epoch(Dataset& ds, const NoiseKey& key) override {
    ops_->begin_call();
    ops_->shuffle(ds, key);
    ops_->begin_epoch();
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
                               nullptr, T(1));
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

  void decode_rows(const float* z, int64_t rows, const NoiseKey* prior, float* mean) override {
    auto& b = net_.buffers();
    ops_->begin_call();
    const size_t count = static_cast<size_t>(rows * config_.latent_dim);
    if (prior != nullptr) {
      ops_->standard_normal(*prior, static_cast<int64_t>(count), b.z);
    } else {
      ops_->upload_from_caller(b.z, z, count);
    }
    net_.decode(rows);
    T* out = b.dec_out.back();
    ops_->output_mean(net_.likelihood(), out, rows * config_.input_dim);
    ops_->copy_to_caller(mean, out, static_cast<size_t>(rows * config_.input_dim));
    ops_->synchronize();
  }

  void copy_gradient(std::vector<double>* gradient) const override {
    const ParameterLayout& layout = net_.layout();
    std::vector<double> padded(layout.total);
    ops_->copy_to_host(padded.data(), net_.buffers().grads, padded.size());
    gradient->resize(layout.packed_total);
    layout.pack(padded.data(), gradient->data());
  }

  void upload_noise(const float* eps, int64_t count) override {
    ops_->upload_from_caller(net_.buffers().eps, eps, static_cast<size_t>(count));
  }

  std::unique_ptr<Dataset> make_dataset(const void* data, int64_t n, bool bytes,
                                        int transform) override {
    std::unique_ptr<Dataset> ds = ops_->make_dataset(data, n, config_.input_dim, bytes);
    ds->owner = this;
    ds->rows = n;
    ds->dim = config_.input_dim;
    ds->bytes = bytes;
    ds->transform = static_cast<ByteTransform>(transform);
    return ds;
  }

  void copy_to_caller(float* dst, const float* host, size_t count) const override {
    ops_->copy_host_floats(dst, host, count);
  }
  void copy_from_caller(float* host, const float* src, size_t count) const override {
    ops_->copy_host_floats(host, src, count);
  }

 private:
  T* buffer(StateBuffer which) const {
    const auto& b = net_.buffers();
    switch (which) {
      case StateBuffer::kAdamFirstMoment: return b.adam_m;
      case StateBuffer::kAdamSecondMoment: return b.adam_v;
      default: return b.params;
    }
  }

  // Forward and backward of the staged rows; the loss into b.loss.
  void forward_backward(int64_t n, const NoiseSource& noise) {
    const int64_t k = config_.samples;
    net_.forward(n, k, noise, true, config_.objective);
    net_.loss(n, k, config_.objective, config_.kl_weight);
    net_.backward(n, k, config_.objective, config_.kl_weight, config_.update);
  }

  // A whole step on the staged rows, decided and counted in the backend's
  // step state: the finite check, Adam's constants, one Adam launch over the
  // parameters the update mode moves (nothing when the check failed), and
  // the counters (and for a step of an epoch, its position and loss sums).
  // The noise counter is read from the state when it runs.
  void step_on_staged_rows(int64_t n, bool injected, bool epoch) {
    auto& b = net_.buffers();
    StepState* s = ops_->step_state();
    NoiseSource noise;
    noise.injected = injected;
    noise.key = key(NoiseStream::kLatent, 0);
    noise.counter = &s->steps;
    ops_->begin_step();
    forward_backward(n, noise);
    size_t begin = 0, end = 0;
    net_.update_range(config_.update, &begin, &end);
    ops_->check_step(b.loss, b.grads, begin, end);
    AdamSettings adam;
    adam.learning_rate = config_.learning_rate;
    adam.beta1 = config_.adam_beta1;
    adam.beta2 = config_.adam_beta2;
    adam.epsilon = config_.adam_epsilon;
    ops_->begin_update(adam);
    ops_->adam(b.params, b.grads, b.adam_m, b.adam_v, begin, net_.layout().encoder_end, end);
    ops_->end_step(config_.update, n, b.loss, epoch);
  }

  // nn.Linear's default: W and b ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform
  // with a = sqrt(5) gives the same bound for W), drawn from Philox with the
  // seed in the packed layout's order, so every backend's layout starts from
  // the same numbers; the learned log variance starts at
  // VAE_OPT_LOG_VARIANCE. Adam's moments start at zero.
  void initialize_parameters() {
    const ParameterLayout packed(config_);
    std::vector<float> p(packed.packed_total);
    const NoiseKey init = key(NoiseStream::kInit, 0);
    uint64_t drawn = 0;
    for (const auto* layers : {&packed.encoder, &packed.decoder}) {
      for (const LinearLayer& l : *layers) {
        const float bound = 1.0f / std::sqrt(static_cast<float>(l.in));
        const size_t end = l.bias + static_cast<size_t>(l.out);
        for (size_t e = l.weight; e < end; ++e) {
          p[e] = bound * (2.0f * standard_uniform(init, drawn++) - 1.0f);
        }
      }
    }
    for (int64_t d = 0; d < packed.log_variance_count; ++d) {
      p[packed.log_variance + static_cast<size_t>(d)] = static_cast<float>(config_.log_variance);
    }
    write_state(StateBuffer::kParameters, p);
    const std::vector<float> zeros(packed.packed_total, 0.0f);
    write_state(StateBuffer::kAdamFirstMoment, zeros);
    write_state(StateBuffer::kAdamSecondMoment, zeros);
  }

  std::unique_ptr<Ops> ops_;
  Network<Ops> net_;
};

}  // namespace vae
