#include "trainer.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "backend_factory.h"
#include "checkpoint.h"
#include "device_pointer.h"
#include "error.h"
#include "interrupt_window.h"
#include "parameter_layout.h"

namespace vae {
namespace {

std::string range_message(const char* name, int64_t lo, int64_t hi, int64_t got) {
  MessageStream m;
  m << name << ": must be in [" << lo << ", " << hi << "], got " << got;
  return m.str();
}

}  // namespace

const char* state_value_problem(StateBuffer which, float value) {
  if (!std::isfinite(value)) return "is not finite";
  if (which == StateBuffer::kAdamSecondMoment && value < 0.0f) return "is negative";
  return nullptr;
}

std::unique_ptr<Trainer> Trainer::create(const Config& config) {
  config.validate();
  int backend = config.backend;
  if (backend == VAE_BACKEND_AUTO) {
    backend = cuda_device_available() ? VAE_BACKEND_CUDA : VAE_BACKEND_CPU;
  }
  // The trainer's configuration names the backend chosen, so vae_get_int
  // and checkpoints tell which one AUTO picked.
  Config chosen = config;
  chosen.backend = backend;
  std::unique_ptr<Trainer> t =
      backend == VAE_BACKEND_CUDA ? make_cuda_trainer(chosen) : make_cpu_trainer(chosen);
  t->apply_options(t->config());
  return t;
}

int64_t Trainer::parameter_count() const {
  return static_cast<int64_t>(ParameterLayout(config_).packed_total);
}

// A live option changes a copy of the configuration, the backend takes it,
// and only then does the trainer's change: a failure changes nothing.
template <class Set>
void Trainer::change_option(int option, Set&& set) {
  if (Config::is_read_only(option)) invalid_argument(Config::read_only_message());
  Config changed = config_;
  set(changed);
  apply_options(changed);
  config_ = std::move(changed);
}

void Trainer::set_int(int option, int64_t value) {
  check_not_in_evaluation("vae_set_int");
  change_option(option, [&](Config& c) { c.set_int(option, value, true); });
}

void Trainer::set_float(int option, double value) {
  check_not_in_evaluation("vae_set_float");
  change_option(option, [&](Config& c) { c.set_float(option, value, true); });
}

int64_t Trainer::get_int(int option) const {
  if (option == VAE_OPT_STEPS) return counters().steps;
  if (option == VAE_OPT_EPOCHS) return epochs_;
  if (option == VAE_OPT_SKIPPED_STEPS) return counters().skipped_steps;
  if (option == VAE_OPT_GRAD_NORM || option == VAE_OPT_NEXT_LEARNING_RATE) {
    invalid_argument("option: VAE_OPT_GRAD_NORM and VAE_OPT_NEXT_LEARNING_RATE are real "
                     "numbers: read them with vae_get_float");
  }
  return config_.get_int(option);
}

// The step state is read after the steps queued before (on the CUDA
// backend, this waits for them).
double Trainer::get_float(int option) const {
  if (option == VAE_OPT_GRAD_NORM) return read_step_state().grad_norm;
  if (option == VAE_OPT_NEXT_LEARNING_RATE) {
    return scheduled_learning_rate(config_.adam_settings(), counters().steps);
  }
  if (option == VAE_OPT_STEPS || option == VAE_OPT_EPOCHS || option == VAE_OPT_SKIPPED_STEPS) {
    return static_cast<double>(get_int(option));
  }
  return config_.get_float(option);
}

Counters Trainer::counters() const {
  const StepState s = read_step_state();
  Counters c;
  c.steps = s.steps;
  c.encoder_steps = s.encoder_steps;
  c.decoder_steps = s.decoder_steps;
  c.skipped_steps = s.skipped;
  c.epochs = epochs_;
  c.draws = draws_;
  return c;
}

void Trainer::set_counters(const Counters& c) {
  StepState s = read_step_state();
  s.steps = c.steps;
  s.encoder_steps = c.encoder_steps;
  s.decoder_steps = c.decoder_steps;
  s.skipped = c.skipped_steps;
  write_step_state(s);
  note_reported(s);
  steps_bound_ = c.steps;
  encoder_bound_ = c.encoder_steps;
  decoder_bound_ = c.decoder_steps;
  epochs_ = c.epochs;
  draws_ = c.draws;
}

void Trainer::check_pointer(const void* p, const char* name) const {
  if (p == nullptr) invalid_argument(std::string(name) + ": NULL");
  if (!device_backend() && pointer_is_device(p)) {
    invalid_argument(std::string(name) +
                     ": device memory given to the CPU backend, which takes host memory");
  }
}

void Trainer::check_rows(int64_t n, int64_t limit, const char* name) const {
  if (n < 1 || n > limit) invalid_argument(range_message(name, 1, limit, n));
}

void Trainer::check_not_in_epoch(const char* call) const {
  if (in_epoch_) {
    invalid_argument(std::string(call) +
                     ": called from the progress callback of vae_train_epoch, which may not "
                     "train the trainer whose epoch is running");
  }
}

void Trainer::check_step_room(int64_t steps) const {
  check_counter_room("step count (VAE_OPT_STEPS)", steps_bound_, steps);
  if (config_.update != VAE_UPDATE_DECODER) {
    check_counter_room("encoder's Adam step count", encoder_bound_, steps);
  }
  if (config_.update != VAE_UPDATE_ENCODER) {
    check_counter_room("decoder's Adam step count", decoder_bound_, steps);
  }
}

void Trainer::advance_step_bounds(int64_t steps) {
  steps_bound_ += steps;
  if (config_.update != VAE_UPDATE_DECODER) encoder_bound_ += steps;
  if (config_.update != VAE_UPDATE_ENCODER) decoder_bound_ += steps;
}

void Trainer::check_draw_room() const {
  check_counter_room("count of noise draws", draws_, 1);
}

void Trainer::train_step(const float* x, int64_t n, float* loss, const float* condition) {
  check_not_in_evaluation("vae_train_step");
  check_not_in_epoch("vae_train_step");
  StepPlan plan;
  std::exception_ptr refusal;
  if (shares_steps("vae_train_step")) {
    refusal = plan_shared_step(x, condition, n, &plan);
  } else {
    check_pointer(x, "x");
    check_condition(condition, "vae_train_step");
    check_rows(n, config_.max_batch, "n");
    plan.x = x;
    plan.condition = condition;
    plan.rows = n;
  }
  check_step_room(1);
  const std::exception_ptr copy_refusal = enqueue_step(plan);
  advance_step_bounds(1);
  if (refusal == nullptr) refusal = copy_refusal;
  if (refusal != nullptr) {
    note_reported(read_step_state());  // this skip is reported as the refusal it is
    std::rethrow_exception(refusal);
  }
  if (loss == nullptr) return;
  const StepState s = read_step_state();
  if (s.input_refused != 0) {
    note_reported(s);  // this skip is reported as the refusal it is
    refuse_step_input(x, n, s.refused_index);
  }
  report_skipped(s, s.bad != 0 ? "this step" : "this step was taken, but earlier ones", 0);
  *loss = read_loss();
}

void Trainer::train_step_with_noise(const float* x, int64_t n, const float* eps, float* loss,
                                    const float* condition) {
  check_not_in_evaluation("train_step_with_noise");
  check_not_in_epoch("train_step_with_noise");
  check_pointer(x, "x");
  check_condition(condition, "train_step_with_noise");
  check_pointer(eps, "eps");
  check_rows(n, config_.max_batch, "n");
  check_step_room(1);
  if (allreduce_.is_set()) {
    fail(VAE_ERROR_UNSUPPORTED, "train_step_with_noise: not for steps that ranks share");
  }
  StepPlan plan;
  plan.x = x;
  plan.condition = condition;
  plan.rows = n;
  plan.eps = eps;
  enqueue_step(plan);
  advance_step_bounds(1);
  const StepState s = read_step_state();
  report_skipped(s, "this step", 0);
  if (loss != nullptr) *loss = read_loss();
}

double Trainer::loss_and_gradient(const float* x, int64_t n, const float* eps,
                                  std::vector<double>* gradient, const float* condition) {
  check_rows(n, config_.max_batch, "n");
  check_condition(condition, "loss_and_gradient");
  Input in;
  in.x = x;
  in.condition = condition;
  stage_input(in, n);
  upload_noise(eps, n * config_.samples * config_.latent_dim);
  const float loss = forward_backward(n);
  copy_gradient(gradient);
  return loss;
}

void Trainer::check_outputs(std::initializer_list<const void*> outputs) const {
  for (const void* out : outputs) {
    if (out != nullptr) check_pointer(out, "output");
  }
}

// Whether a progress callback runs after part `done` (1-based) of `parts`:
// after every part of at most 64, else when a 64th of them completes.
bool Trainer::progress_due(int64_t done, int64_t parts) {
  constexpr int64_t kReports = 64;
  return done == parts || parts <= kReports || done * kReports / parts != (done - 1) * kReports / parts;
}

void Trainer::check_samples(int32_t k) const {
  if (k < 1) invalid_argument(range_message("k", 1, std::numeric_limits<int32_t>::max(), k));
}

void Trainer::check_estimator(int estimator) const {
  if (estimator != VAE_ESTIMATOR_PRIOR && estimator != VAE_ESTIMATOR_IMPORTANCE) {
    MessageStream m;
    m << "estimator: must be VAE_ESTIMATOR_PRIOR (" << VAE_ESTIMATOR_PRIOR
      << ") or VAE_ESTIMATOR_IMPORTANCE (" << VAE_ESTIMATOR_IMPORTANCE << "), got " << estimator;
    invalid_argument(m.str());
  }
}

void Trainer::encode(const float* x, int64_t n, float* mu, float* logvar,
                     const float* condition) {
  check_pointer(x, "x");
  check_condition(condition, "vae_encode");
  check_rows(n, kMaxRows, "n");
  check_outputs({mu, logvar});
  const int64_t d = config_.input_dim;
  const int64_t z = config_.latent_dim;
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  for (int64_t first = 0; first < n; first += config_.max_batch) {
    stop_if_interrupted("vae_encode", first, n, true);
    const int64_t rows = std::min(config_.max_batch, n - first);
    Input in;
    in.x = x + first * d;
    if (condition != nullptr) in.condition = condition + first * config_.condition_dim;
    in.first = first;
    stage_input(in, rows);
    encode_rows(rows, mu ? mu + first * z : nullptr, logvar ? logvar + first * z : nullptr);
  }
}

void Trainer::decode(const float* z, int64_t n, float* mean, const float* condition) {
  check_pointer(z, "z");
  check_condition(condition, "vae_decode");
  check_rows(n, kMaxRows, "n");
  check_pointer(mean, "mean");
  const int64_t chunk = config_.max_batch * config_.samples;
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  for (int64_t first = 0; first < n; first += chunk) {
    stop_if_interrupted("vae_decode", first, n, true);
    const int64_t rows = std::min(chunk, n - first);
    decode_rows(z + first * config_.latent_dim, first, rows, nullptr,
                condition_rows(condition, first), mean + first * config_.input_dim);
  }
}

void Trainer::sample(int64_t n, float* mean, const float* condition) {
  check_not_in_evaluation("vae_sample");
  check_condition(condition, "vae_sample");
  check_rows(n, kMaxRows, "n");
  check_pointer(mean, "mean");
  check_draw_room();
  const int64_t chunk = config_.max_batch * config_.samples;
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  for (int64_t first = 0; first < n; first += chunk) {
    stop_if_interrupted("vae_sample", first, n, true);
    const int64_t rows = std::min(chunk, n - first);
    const NoiseKey prior = key(NoiseStream::kPrior, draws_, first * config_.latent_dim);
    decode_rows(nullptr, first, rows, &prior, condition_rows(condition, first),
                mean + first * config_.input_dim);
  }
  ++draws_;
}

void Trainer::get_parameters(float* out, int64_t count) const {
  check_pointer(out, "out");
  const std::vector<float> p = read_state(StateBuffer::kParameters);
  const int64_t total = static_cast<int64_t>(p.size());
  if (count != total) invalid_argument(range_message("count", total, total, count));
  copy_to_caller(out, p.data(), p.size());
}

void Trainer::set_parameters(const float* in, int64_t count) {
  check_not_in_evaluation("vae_set_parameters");
  check_pointer(in, "in");
  const int64_t total = parameter_count();
  if (count != total) invalid_argument(range_message("count", total, total, count));
  std::vector<float> p(static_cast<size_t>(total));
  copy_from_caller(p.data(), in, p.size());
  for (size_t e = 0; e < p.size(); ++e) {
    if (const char* problem = state_value_problem(StateBuffer::kParameters, p[e])) {
      invalid_argument("in: parameter " + std::to_string(e) + " " + problem);
    }
  }
  write_state(StateBuffer::kParameters, p);
}

void Trainer::save(const std::string& path) const { save_checkpoint(*this, path); }

std::unique_ptr<Trainer> Trainer::load(const std::string& path, int backend) {
  if (backend != VAE_BACKEND_AUTO && backend != VAE_BACKEND_CPU && backend != VAE_BACKEND_CUDA) {
    invalid_argument(range_message("backend", VAE_BACKEND_AUTO, VAE_BACKEND_CUDA, backend));
  }
  return load_checkpoint(path, {{VAE_OPT_BACKEND, backend}});
}

std::unique_ptr<Trainer> Trainer::load(const std::string& path, const LoadChoices& choices) {
  return load_checkpoint(path, choices);
}

std::unique_ptr<Dataset> Trainer::create_dataset(const float* x, int64_t n) {
  check_pointer(x, "x");
  check_rows(n, kMaxRows, "n");
  return make_dataset(x, n, false, VAE_BYTES_SCALE);
}

std::unique_ptr<Dataset> Trainer::create_dataset(const uint8_t* y, int64_t n, int transform) {
  check_pointer(y, "y");
  check_rows(n, kMaxRows, "n");
  if (transform < VAE_BYTES_SCALE || transform > VAE_BYTES_DEQUANTIZE) {
    invalid_argument(range_message("transform", VAE_BYTES_SCALE, VAE_BYTES_DEQUANTIZE, transform));
  }
  return make_dataset(y, n, true, transform);
}

void Trainer::check_dataset(const Dataset& ds) const {
  if (ds.owner != this) {
    invalid_argument("ds: the dataset belongs to another trainer; create it with this one");
  }
  if (config_.conditional() && ds.condition_dim == 0) {
    MessageStream m;
    m << "ds: the model is conditional (VAE_OPT_CONDITION_DIM = " << config_.condition_dim
      << ") and the dataset holds no conditions; give them with vae_dataset_set_labels or "
         "vae_dataset_set_conditions";
    invalid_argument(m.str());
  }
}

void Trainer::train_epoch(Dataset& ds, int64_t batch, float* mean_loss) {
  check_not_in_evaluation("vae_train_epoch");
  check_not_in_epoch("vae_train_epoch");
  check_dataset(ds);
  const bool shared = shares_steps("vae_train_epoch");
  const int64_t world = shared ? config_.world_size : 1;
  check_rows(batch, config_.max_batch * world, "batch");
  struct EpochRunning {
    bool* flag;
    explicit EpochRunning(bool* f) : flag(f) { *flag = true; }
    ~EpochRunning() { *flag = false; }
    EpochRunning(const EpochRunning&) = delete;
    EpochRunning& operator=(const EpochRunning&) = delete;
  } running(&in_epoch_);
  const int64_t steps = (ds.rows + batch - 1) / batch;
  check_counter_room("epoch count (VAE_OPT_EPOCHS)", epochs_, 1);
  check_step_room(steps);
  const InterruptWindow window(&interrupt_requested_);
  begin_epoch(ds, key(NoiseStream::kShuffle, epochs_));
  for (int64_t step = 0; step < steps; ++step) {
    // Ranks take each step together, so a rank cannot stop alone (the
    // others would wait in the hook): it asks the ranks to stop in its part
    // of the step, and all stop where they read the summed request.
    if (!shared && epoch_interrupted()) stop_epoch(step, steps, "");
    const int64_t first = step * batch;
    const int64_t rows = std::min(batch, ds.rows - first);
    StepPlan plan;
    plan.epoch = &ds;
    plan.rows = rows;
    if (shared) {
      plan_epoch_step(ds, batch, step, rows, world, &plan);
      plan.stop = epoch_interrupted();
    }
    enqueue_step(plan);
    advance_step_bounds(1);
    // The progress calls, and for a shared epoch the check of the ranks'
    // requests to stop: at the same steps on every rank (progress_due
    // depends on the step count alone), each reading the same sums of the
    // step just taken, so the ranks stop together (on the GPU, a wait for
    // the device at up to 65 steps an epoch).
    if (progress_due(step + 1, steps) && (progress_ != nullptr || shared)) {
      const StepState s = read_step_state();
      if (progress_ != nullptr) {
        const double mean = s.loss_rows > 0 ? s.loss_sum / static_cast<double>(s.loss_rows) : 0.0;
        progress_(progress_user_data_, first + rows, ds.rows, mean);
      }
      if (shared && s.stop_votes > 0 && step + 1 < steps) {
        stop_epoch(step + 1, steps, " on " + std::to_string(s.stop_votes) + " of the " +
                                        std::to_string(world) + " ranks sharing it");
      }
    }
  }
  const StepState s = read_step_state();
  ++epochs_;
  const float mean =
      static_cast<float>(s.loss_rows > 0 ? s.loss_sum / static_cast<double>(s.loss_rows) : NAN);
  if (mean_loss != nullptr) *mean_loss = mean;
  report_skipped(s, nullptr, steps);
}

}  // namespace vae
