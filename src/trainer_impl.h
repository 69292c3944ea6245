// Trainer implemented over a backend's primitives: Network<Ops> does the
// model, this class moves data between the caller, the datasets and the
// workspace, and runs Adam. The CPU backend instantiates it with
// CpuOps<float> (and the tests with CpuOps<double>), the CUDA backend with
// CudaOps.
#pragma once

#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <numeric>
#include <type_traits>
#include <vector>

#include "caller_rows.h"
#include "error.h"
#include "evaluator.h"
#include "network.h"
#include "posterior_refiner.h"
#include "trainer.h"

namespace vae {

template <class Ops>
class TrainerImpl final : public Trainer {
 public:
  using T = typename Ops::Scalar;

  TrainerImpl(const Config& config, std::unique_ptr<Ops> ops)
      : Trainer(config),
        ops_(std::move(ops)),
        net_(config, *ops_),
        evaluator_(*ops_, net_, config.input_dim, config.latent_dim) {
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

  // A change of VAE_OPT_EVAL_ROWS gives the evaluation workspace back; the
  // next evaluation sizes it anew.
  void apply_options(const Config& config) override {
    ops_->apply_options(config);
    if (config.eval_rows != config_.eval_rows) evaluator_.release();
  }

  void stage_input(const Input& in, int64_t n) override {
    ops_->begin_call();
    stage_rows(in, n, net_.buffers().x, net_.buffers().condition);
  }

  std::exception_ptr enqueue_step(const StepPlan& plan) override {
    if (plan.shared) return enqueue_shared_step(plan);
    const int64_t n = plan.rows;
    const Dataset* epoch = plan.epoch;
    if (plan.x != nullptr) {
      Input in;
      in.x = plan.x;
      in.condition = plan.condition;
      in.step = true;
      stage_input(in, n);
    } else {
      ops_->begin_call();
    }
    if (plan.eps != nullptr) {
      upload_noise(plan.eps, n * config_.samples * config_.latent_dim);
      step_on_staged_rows(n, true, false);
      return nullptr;
    }
    // The same launches every time for a given shape, so the backend may
    // replay them from a captured graph.
    StepGraph graph;
    graph.rows = n;
    if (epoch != nullptr) graph.dataset = epoch;
    ops_->run_captured(graph, [&] {
      if (epoch != nullptr) {
        gather_step_rows(*epoch, 0, n, key(NoiseStream::kBytes, 0));
      }
      step_on_staged_rows(n, false, epoch != nullptr);
    });
    return nullptr;
  }

  float forward_backward(int64_t n) override {
    NoiseSource noise;
    noise.injected = true;
    forward_backward(n, noise);
    return read_loss();
  }

  [[noreturn]] void refuse_step_input(const float* x, int64_t n, uint64_t index) const override {
    refuse_device_value(caller_rows("x", x, 0, n, config_.input_dim), index);
  }

  StepState read_step_state() const override { return ops_->read_step_state(); }
  void write_step_state(const StepState& s) override { ops_->write_step_state(s); }
  float read_loss() const override { return ops_->read_value(net_.buffers().loss); }

  void begin_epoch(Dataset& ds, const NoiseKey& key) override {
    ops_->begin_call();
    ops_->shuffle(ds, key);
    ops_->begin_epoch();
  }

  EvalPlan evaluation_plan(int64_t n, int64_t k) const override {
    return evaluator_.plan(n, k, config_.eval_rows);
  }

  void begin_evaluation(const EvalPlan& plan) override {
    ops_->begin_call();
    evaluator_.reserve(plan);
  }

  void evaluate_chunk(const Input& in, const EvalChunk& c, EvalMode mode, const NoiseKey& key,
                      float* const out[3], int64_t out_base) override {
    ops_->begin_call();
    EvalBuffers<T>& b = evaluator_.buffers();
    stage_rows(in, c.rows, b.x, b.condition);
    evaluator_.run(c, mode, key);
    const auto done = static_cast<size_t>(c.done_end() - c.first_pair_row);
    for (int m = 0; m < 3; ++m) {
      if (out[m] != nullptr && done > 0) {
        ops_->copy_to_caller(out[m] + (c.first_pair_row - out_base), b.results[m], done);
      }
    }
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

  int64_t refine_chunk_rows(const RefineSettings& s) const override {
    return PosteriorRefiner<Ops>::chunk_rows(config_, net_.layout(), s);
  }

  void refine_rows(const RefineChunk& c, const RefineSettings& s,
                   const std::function<void()>& between_steps, float* mu, float* logvar,
                   double* elbo_encoder, double* elbo_refined) override {
    ops_->begin_call();
    PosteriorRefiner<Ops>(net_, *ops_, config_)
        .run(c, s, between_steps, mu, logvar, elbo_encoder, elbo_refined);
  }

  void decode_rows(const float* z, int64_t first, int64_t rows, const NoiseKey* prior,
                   const float* condition, float* mean) override {
    auto& b = net_.buffers();
    ops_->begin_call();
    if (condition != nullptr) {
      upload_caller_rows(b.condition, caller_conditions(condition, first, rows), false);
    }
    if (prior != nullptr) {
      ops_->standard_normal(*prior, rows * config_.latent_dim, b.z);
      if (net_.prior().learned()) {
        // Row first + r of the call picks its component with uniform element first + r.
        NoiseKey components = mixture_component_key(*prior);
        components.offset = static_cast<uint64_t>(first);
        ops_->prior_sample(net_.prior(), components, rows, b.z);
      }
    } else {
      CallerRows latent = caller_rows("z", z, first, rows, config_.latent_dim);
      latent.bernoulli = false;
      upload_caller_rows(b.z, latent, false);
    }
    net_.decode(rows, 1);
    // The means into grad_a (rows * widest >= rows * input_dim floats, free
    // outside a step): the output rows are 2 input_dim wide when the
    // decoder predicts the variance.
    ops_->output_mean(net_.likelihood(), b.dec_out.back(), rows, config_.input_dim, b.grad_a);
    ops_->copy_to_caller(mean, b.grad_a, static_cast<size_t>(rows * config_.input_dim));
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
    // As in upload_caller_rows, the CPU backend checks float rows as it copies.
    std::unique_ptr<Dataset> ds =
        ops_->make_dataset(data, n, config_.input_dim, bytes, !config_.gaussian());
    ds->owner = this;
    ds->rows = n;
    ds->dim = config_.input_dim;
    ds->bytes = bytes;
    ds->transform = static_cast<ByteTransform>(transform);
    return ds;
  }

  void set_conditions(Dataset& ds, const float* floats, const uint8_t* labels) override {
    ops_->begin_call();
    ops_->set_dataset_conditions(ds, floats, labels, config_.condition_dim);
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

  // `rows` rows of the caller's conditions from its row `first` on: any
  // finite values.
  CallerRows caller_conditions(const float* condition, int64_t first, int64_t rows) const {
    CallerRows r = caller_rows("condition", condition, first, rows, config_.condition_dim);
    r.bernoulli = false;
    return r;
  }

  // n input rows into dst, a workspace buffer, and for a conditional model
  // their conditions into condition. A caller's conditions are checked
  // first and at once (their verdict read before the rows', which a step
  // may leave on the device for later).
  void stage_rows(const Input& in, int64_t n, T* dst, T* condition) {
    if (in.x != nullptr) {
      if (config_.conditional()) {
        upload_caller_rows(condition, caller_conditions(in.condition, in.first, n), false);
      }
      upload_caller_rows(dst, caller_rows("x", in.x, in.first, n, config_.input_dim), in.step);
    } else {
      ops_->gather_rows(*in.dataset, in.first, n, in.bytes, nullptr, dst);
      if (config_.conditional()) {
        ops_->gather_conditions(*in.dataset, in.first, n, nullptr, condition);
      }
    }
  }

  // The n rows of a step of an epoch over ds, from its order's position
  // (in the step state) plus `first`, and their conditions.
  void gather_step_rows(const Dataset& ds, int64_t first, int64_t n, const NoiseKey& bytes) {
    auto& b = net_.buffers();
    ops_->gather_rows(ds, first, n, bytes, ops_->step_state(), b.x);
    if (config_.conditional()) {
      ops_->gather_conditions(ds, first, n, ops_->step_state(), b.condition);
    }
  }

  // Caller rows into the workspace, held to the input rule. Rows the CUDA
  // backend checks on the device leave the verdict in the step state: a step
  // (`deferred`) acts on it there, any other call waits for it here.
  void upload_caller_rows(T* dst, const CallerRows& rows, bool deferred) const {
    if (ops_->upload_checked_rows(dst, rows) && !deferred) {
      const StepState s = ops_->read_step_state();
      if (s.input_refused != 0) refuse_device_value(rows, s.refused_index);
    }
  }

  [[noreturn]] void refuse_device_value(const CallerRows& rows, uint64_t index) const {
    const auto e = static_cast<int64_t>(index);
    refuse_caller_value(rows, e, ops_->read_value(rows.values + e));
  }

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
    net_.backward(n, Network<Ops>::mean_rows(n, noise), k, config_.objective, config_.kl_weight,
                  config_.update);
  }

  // A whole step on the staged rows, decided and counted in the backend's
  // step state (update). The noise counter is read from the state when it
  // runs.
  void step_on_staged_rows(int64_t n, bool injected, bool epoch) {
    StepState* s = ops_->step_state();
    NoiseSource noise;
    noise.injected = injected;
    noise.key = key(NoiseStream::kLatent, 0);
    noise.counter = &s->steps;
    ops_->begin_step();
    forward_backward(n, noise);
    update(n, epoch);
  }

  // The end of a step whose loss is in b.loss and gradient in b.grads, for
  // `rows` rows: the finite check with the gradient's norm, Adam's constants
  // (the scheduled rate, the clipping factor), one Adam launch over
  // the parameters the update mode moves (nothing when the step is bad),
  // and the counters (and for a step of an epoch, its position and loss sums).
  void update(int64_t rows, bool epoch) {
    auto& b = net_.buffers();
    size_t begin = 0, end = 0;
    net_.update_range(config_.update, &begin, &end);
    ops_->check_step(b.loss, b.grads, begin, end);
    ops_->begin_update(config_.adam_settings());
    ops_->adam(b.params, b.grads, b.adam_m, b.adam_v, begin, net_.layout().encoder_end, end);
    ops_->end_step(config_.update, rows, b.loss, epoch);
  }

  // A step that ranks share (vae_set_allreduce). Not captured into a graph:
  // the hook runs on the host between the launches. The rank's rows (none
  // when its part is empty or refused) give the gradient of the batch's mean
  // loss; the tail (kernels/shared_step.h) follows it; the hook sums both
  // across the ranks; the verdict read from the sums, the finite check of
  // the summed gradient and Adam then run alike on every rank.
  std::exception_ptr enqueue_shared_step(const StepPlan& plan) {
    ops_->begin_call();
    auto& b = net_.buffers();
    std::exception_ptr refusal;
    bool refused = plan.refused;
    if (plan.x != nullptr && !refused) {
      Input in;
      in.x = plan.x;
      in.condition = plan.condition;
      in.step = true;
      try {
        stage_input(in, plan.rows);
      } catch (const Error& e) {
        if (e.status() != VAE_ERROR_INVALID_ARGUMENT) throw;
        refusal = std::current_exception();
        refused = true;
      }
    }
    StepState* s = ops_->step_state();
    const int64_t n = refused ? 0 : plan.rows;
    const bool epoch = plan.epoch != nullptr;
    ops_->begin_step();
    if (n > 0) {
      if (epoch) {
        gather_step_rows(*plan.epoch, plan.share.first, n,
                         key(NoiseStream::kBytes, 0, plan.share.first * config_.input_dim));
      }
      NoiseSource noise;
      noise.key = key(NoiseStream::kLatent, 0);
      noise.counter = &s->steps;
      noise.first_row = plan.share.first;
      noise.batch_rows = plan.share.batch;
      forward_backward(n, noise);
    } else {
      ops_->fill(b.grads, static_cast<int64_t>(net_.layout().total), T(0));
    }
    ops_->write_share_tail(b.row_loss, n, refused, plan.stop, plan.vote, b.share_tail);
    sum_across_ranks();
    ops_->accept_share_tail(b.share_tail, plan.world, plan.share.batch, b.loss);
    update(plan.share.batch, epoch);
    return refusal;
  }

  // The gradient and the tail after it, summed across the ranks by the hook.
  // The guard after them is filled first (kernels/shared_step.h). On the
  // host it is read back right after the hook, and a hook that wrote into
  // it fails the step, which then changes nothing. On the GPU, where that
  // read would make every step wait for the device, accept_share_tail reads
  // it on the device: the step is skipped (parameters and moments as they
  // were) and the next report of skipped steps says why (vae.h).
  void sum_across_ranks() {
    if constexpr (std::is_same_v<T, float>) {
      const int64_t count = static_cast<int64_t>(net_.layout().total) + kShareTailFloats;
      T* guard = net_.buffers().hook_guard;
      ops_->fill(guard, kHookGuardFloats, kHookGuardValue);
      allreduce_.sum(net_.buffers().grads, count, Ops::kDeviceMemory, ops_->stream_handle());
      if constexpr (!Ops::kDeviceMemory) {
        const int64_t touched = touched_guard_float(guard);
        if (touched >= 0) refuse_overrun(count, touched, guard[touched]);
      }
    } else {
      fail(VAE_ERROR_INTERNAL, "steps that ranks share run in float");
    }
  }

  [[noreturn]] static void refuse_overrun(int64_t count, int64_t element, float value) {
    MessageStream m;
    m << "allreduce hook: wrote past the end of its buffer of " << count << " floats (float "
      << count + element << " became " << value << "); this step changed nothing";
    fail(VAE_ERROR_DEVICE, m.str());
  }

  // nn.Linear's default: W and b ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform
  // with a = sqrt(5) gives the same bound for W), drawn from Philox with the
  // seed in the packed layout's order, so every backend's layout starts from
  // the same numbers; the learned log variance starts at
  // VAE_OPT_LOG_VARIANCE (a decoder-predicted one: its outputs' biases). A
  // learned prior starts with log variances and logits 0 and its means at 0
  // (one component: N(0, I)) or, for K >= 2, drawn from N(0, 1) (the
  // initialization's normal array of counter 1).
  // Adam's moments start at zero.
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
    if (config_.variance == VAE_VARIANCE_DECODER && config_.gaussian()) {
      // The log-variance outputs' biases at o = m + log(e^(v - m) - 1), where
      // the bound's map gives v = VAE_OPT_LOG_VARIANCE (> m, validate).
      const double m = config_.min_log_variance;
      const auto o = static_cast<float>(m + std::log(std::expm1(config_.log_variance - m)));
      const LinearLayer& out = packed.decoder.back();
      for (int64_t d = 0; d < config_.input_dim; ++d) {
        p[out.bias + static_cast<size_t>(config_.input_dim + d)] = o;
      }
    }
    if (packed.prior_components >= 2) {
      const NoiseKey means = key(NoiseStream::kInit, 1);
      const int64_t count = packed.prior_components * packed.latent;
      for (int64_t e = 0; e < count; ++e) {
        p[packed.prior_means + static_cast<size_t>(e)] =
            standard_normal(means, static_cast<uint64_t>(e));
      }
    }
    write_state(StateBuffer::kParameters, p);
    const std::vector<float> zeros(packed.packed_total, 0.0f);
    write_state(StateBuffer::kAdamFirstMoment, zeros);
    write_state(StateBuffer::kAdamSecondMoment, zeros);
  }

  std::unique_ptr<Ops> ops_;
  Network<Ops> net_;
  Evaluator<Ops> evaluator_;
};

}  // namespace vae
