#include "trainer.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "backend_factory.h"
#include "checkpoint.h"
#include "device_pointer.h"
#include "error.h"
#include "parameter_layout.h"

namespace vae {
namespace {

std::string range_message(const char* name, int64_t lo, int64_t hi, int64_t got) {
  std::ostringstream m;
  m << name << ": must be in [" << lo << ", " << hi << "], got " << got;
  return m.str();
}

}  // namespace

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
  return static_cast<int64_t>(ParameterLayout(config_).total);
}

void Trainer::set_int(int option, int64_t value) {
  if (option == VAE_OPT_STEPS || option == VAE_OPT_EPOCHS) {
    invalid_argument("option: VAE_OPT_STEPS and VAE_OPT_EPOCHS are read-only counters");
  }
  Config changed = config_;
  changed.set_int(option, value, true);
  apply_options(changed);
  config_ = std::move(changed);
}

void Trainer::set_float(int option, double value) {
  if (option == VAE_OPT_STEPS || option == VAE_OPT_EPOCHS) {
    invalid_argument("option: VAE_OPT_STEPS and VAE_OPT_EPOCHS are read-only counters");
  }
  Config changed = config_;
  changed.set_float(option, value, true);
  apply_options(changed);
  config_ = std::move(changed);
}

int64_t Trainer::get_int(int option) const {
  if (option == VAE_OPT_STEPS) return counters_.steps;
  if (option == VAE_OPT_EPOCHS) return counters_.epochs;
  return config_.get_int(option);
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

NoiseKey Trainer::key(NoiseStream stream, int64_t counter, int64_t offset) const {
  return NoiseKey{static_cast<uint64_t>(config_.seed), static_cast<uint64_t>(counter), stream,
                  static_cast<uint64_t>(offset)};
}

void Trainer::check_step_room(int64_t steps) const {
  check_counter_room("step count (VAE_OPT_STEPS)", counters_.steps, steps);
  if (config_.update != VAE_UPDATE_DECODER) {
    check_counter_room("encoder's Adam step count", counters_.encoder_steps, steps);
  }
  if (config_.update != VAE_UPDATE_ENCODER) {
    check_counter_room("decoder's Adam step count", counters_.decoder_steps, steps);
  }
}

void Trainer::check_draw_room() const {
  check_counter_room("count of noise draws", counters_.draws, 1);
}

bool Trainer::run_step(const Input& in, int64_t n, const float* eps, float* loss) {
  check_step_room(1);
  stage_input(in, n);
  NoiseSource noise;
  noise.key = key(NoiseStream::kLatent, counters_.steps);
  if (eps != nullptr) {
    upload_noise(eps, n * config_.samples * config_.latent_dim);
    noise.injected = true;
  }
  if (!step_forward_backward(n, noise, loss)) return false;
  step_update(config_.update);
  ++counters_.steps;
  if (config_.update != VAE_UPDATE_DECODER) ++counters_.encoder_steps;
  if (config_.update != VAE_UPDATE_ENCODER) ++counters_.decoder_steps;
  return true;
}

void Trainer::train_step(const float* x, int64_t n, float* loss) {
  check_pointer(x, "x");
  check_rows(n, config_.max_batch, "n");
  Input in;
  in.x = x;
  if (!run_step(in, n, nullptr, loss)) {
    fail(VAE_ERROR_NUMERICAL,
         "the loss or a gradient is not finite; no parameter or optimizer state was changed "
         "(check the input for NaN or infinity, or lower the learning rate)");
  }
}

void Trainer::train_step_with_noise(const float* x, int64_t n, const float* eps, float* loss) {
  check_pointer(x, "x");
  check_pointer(eps, "eps");
  check_rows(n, config_.max_batch, "n");
  Input in;
  in.x = x;
  if (!run_step(in, n, eps, loss)) fail(VAE_ERROR_NUMERICAL, "the loss or a gradient is not finite");
}

double Trainer::loss_and_gradient(const float* x, int64_t n, const float* eps,
                                  std::vector<double>* gradient) {
  check_rows(n, config_.max_batch, "n");
  Input in;
  in.x = x;
  stage_input(in, n);
  upload_noise(eps, n * config_.samples * config_.latent_dim);
  NoiseSource noise;
  noise.injected = true;
  float loss = 0;
  step_forward_backward(n, noise, &loss);
  copy_gradient(gradient);
  return loss;
}

void Trainer::check_outputs(std::initializer_list<const void*> outputs) const {
  for (const void* out : outputs) {
    if (out != nullptr) check_pointer(out, "output");
  }
}

void Trainer::evaluate(const float* x, int64_t n, float* elbo, float* reconstruction,
                       float* kl) {
  check_pointer(x, "x");
  check_rows(n, kMaxRows, "n");
  check_outputs({elbo, reconstruction, kl});
  check_draw_room();
  const int64_t d = config_.input_dim;
  const int64_t per_row = config_.samples * config_.latent_dim;
  for (int64_t first = 0; first < n; first += config_.max_batch) {
    const int64_t rows = std::min(config_.max_batch, n - first);
    Input in;
    in.x = x + first * d;
    in.first = first;
    stage_input(in, rows);
    NoiseSource noise;
    noise.key = key(NoiseStream::kEvalLatent, counters_.draws, first * per_row);
    evaluate_rows(rows, noise, elbo ? elbo + first : nullptr,
                  reconstruction ? reconstruction + first : nullptr, kl ? kl + first : nullptr);
  }
  ++counters_.draws;
}

void Trainer::log_likelihood(const float* x, int64_t n, int32_t k, int estimator,
                             float* log_px) {
  check_pointer(x, "x");
  check_rows(n, kMaxRows, "n");
  if (k < 1) invalid_argument(range_message("k", 1, std::numeric_limits<int32_t>::max(), k));
  check_estimator(estimator);
  check_pointer(log_px, "log_px");
  check_draw_room();
  const int64_t d = config_.input_dim;
  for (int64_t first = 0; first < n; first += config_.max_batch) {
    const int64_t rows = std::min(config_.max_batch, n - first);
    Input in;
    in.x = x + first * d;
    in.first = first;
    stage_input(in, rows);
    log_likelihood_rows(rows, k, estimator, estimator_key(estimator, first, k), log_px + first);
  }
  ++counters_.draws;
}

NoiseKey Trainer::estimator_key(int estimator, int64_t first, int32_t k) const {
  // Rows first.. of this call draw from element first * k * latent on.
  return key(estimator == VAE_ESTIMATOR_PRIOR ? NoiseStream::kPrior : NoiseStream::kEvalLatent,
             counters_.draws, first * int64_t{k} * config_.latent_dim);
}

void Trainer::stage_evaluation_rows(const Dataset& ds, int64_t first, int64_t rows) {
  Input in;
  in.dataset = &ds;
  in.first = first;
  in.bytes = key(NoiseStream::kEvalBytes, counters_.draws, first * ds.dim);
  stage_input(in, rows);
}

void Trainer::check_estimator(int estimator) const {
  if (estimator != VAE_ESTIMATOR_PRIOR && estimator != VAE_ESTIMATOR_IMPORTANCE) {
    std::ostringstream m;
    m << "estimator: must be VAE_ESTIMATOR_PRIOR (" << VAE_ESTIMATOR_PRIOR
      << ") or VAE_ESTIMATOR_IMPORTANCE (" << VAE_ESTIMATOR_IMPORTANCE << "), got " << estimator;
    invalid_argument(m.str());
  }
}

void Trainer::encode(const float* x, int64_t n, float* mu, float* logvar) {
  check_pointer(x, "x");
  check_rows(n, kMaxRows, "n");
  check_outputs({mu, logvar});
  const int64_t d = config_.input_dim;
  const int64_t z = config_.latent_dim;
  for (int64_t first = 0; first < n; first += config_.max_batch) {
    const int64_t rows = std::min(config_.max_batch, n - first);
    Input in;
    in.x = x + first * d;
    in.first = first;
    stage_input(in, rows);
    encode_rows(rows, mu ? mu + first * z : nullptr, logvar ? logvar + first * z : nullptr);
  }
}

void Trainer::decode(const float* z, int64_t n, float* mean) {
  check_pointer(z, "z");
  check_rows(n, kMaxRows, "n");
  check_pointer(mean, "mean");
  const int64_t chunk = config_.max_batch * config_.samples;
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t rows = std::min(chunk, n - first);
    decode_rows(z + first * config_.latent_dim, first, rows, nullptr,
                mean + first * config_.input_dim);
  }
}

void Trainer::sample(int64_t n, float* mean) {
  check_rows(n, kMaxRows, "n");
  check_pointer(mean, "mean");
  check_draw_room();
  const int64_t chunk = config_.max_batch * config_.samples;
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t rows = std::min(chunk, n - first);
    const NoiseKey prior = key(NoiseStream::kPrior, counters_.draws, first * config_.latent_dim);
    decode_rows(nullptr, first, rows, &prior, mean + first * config_.input_dim);
  }
  ++counters_.draws;
}

void Trainer::get_parameters(float* out, int64_t count) const {
  check_pointer(out, "out");
  const std::vector<float> p = read_state(StateBuffer::kParameters);
  const int64_t total = static_cast<int64_t>(p.size());
  if (count != total) invalid_argument(range_message("count", total, total, count));
  copy_to_caller(out, p.data(), p.size());
}

void Trainer::set_parameters(const float* in, int64_t count) {
  check_pointer(in, "in");
  const int64_t total = parameter_count();
  if (count != total) invalid_argument(range_message("count", total, total, count));
  std::vector<float> p(static_cast<size_t>(total));
  copy_from_caller(p.data(), in, p.size());
  for (size_t e = 0; e < p.size(); ++e) {
    if (!std::isfinite(p[e])) {
      invalid_argument("in: parameter " + std::to_string(e) + " is not finite");
    }
  }
  write_state(StateBuffer::kParameters, p);
}

void Trainer::save(const std::string& path) const { save_checkpoint(*this, path); }

std::unique_ptr<Trainer> Trainer::load(const std::string& path, int backend) {
  if (backend != VAE_BACKEND_AUTO && backend != VAE_BACKEND_CPU && backend != VAE_BACKEND_CUDA) {
    invalid_argument(range_message("backend", VAE_BACKEND_AUTO, VAE_BACKEND_CUDA, backend));
  }
  return load_checkpoint(path, backend);
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
}

void Trainer::train_epoch(Dataset& ds, int64_t batch, float* mean_loss) {
  check_dataset(ds);
  check_rows(batch, config_.max_batch, "batch");
  check_counter_room("epoch count (VAE_OPT_EPOCHS)", counters_.epochs, 1);
  check_step_room((ds.rows + batch - 1) / batch);
  shuffle(ds, key(NoiseStream::kShuffle, counters_.epochs));
  // A failed step leaves the trainer as it was before that step; the steps of
  // the epoch already taken stay taken, and the error names where it stopped.
  double total = 0;
  for (int64_t first = 0; first < ds.rows; first += batch) {
    const int64_t rows = std::min(batch, ds.rows - first);
    Input in;
    in.dataset = &ds;
    in.shuffled = true;
    in.bytes = key(NoiseStream::kBytes, counters_.steps);
    float loss = 0;
    if (!run_step(in, rows, nullptr, &loss)) {
      std::ostringstream m;
      m << "the loss or a gradient is not finite at rows " << first << ".." << first + rows - 1
        << " of epoch " << counters_.epochs << "; that step changed nothing, the "
        << first / batch << " steps before it were taken";
      fail(VAE_ERROR_NUMERICAL, m.str());
    }
    total += static_cast<double>(loss) * static_cast<double>(rows);
    if (progress_ != nullptr) {
      progress_(progress_user_data_, first + rows, ds.rows, total / static_cast<double>(first + rows));
    }
  }
  ++counters_.epochs;
  if (mean_loss != nullptr) *mean_loss = static_cast<float>(total / static_cast<double>(ds.rows));
}

double Trainer::discrete_offset(const Dataset& ds) const {
  // log P(y) >= E_u log p((y + u) / 256) - D log 256 (DESIGN.md section 1).
  return ds.bytes && ds.transform == ByteTransform::kDequantize
             ? static_cast<double>(ds.dim) * std::log(256.0)
             : 0.0;
}

void Trainer::evaluate_dataset(const Dataset& ds, double* elbo, double* reconstruction,
                               double* kl) {
  check_dataset(ds);
  check_draw_room();
  std::vector<float> e(static_cast<size_t>(config_.max_batch));
  std::vector<float> r(e.size()), k(e.size());
  double sum_e = 0, sum_r = 0, sum_k = 0;
  const int64_t per_row = config_.samples * config_.latent_dim;
  for (int64_t first = 0; first < ds.rows; first += config_.max_batch) {
    const int64_t rows = std::min(config_.max_batch, ds.rows - first);
    stage_evaluation_rows(ds, first, rows);
    NoiseSource noise;
    noise.key = key(NoiseStream::kEvalLatent, counters_.draws, first * per_row);
    evaluate_rows(rows, noise, e.data(), r.data(), k.data());
    for (int64_t i = 0; i < rows; ++i) {
      sum_e += e[static_cast<size_t>(i)];
      sum_r += r[static_cast<size_t>(i)];
      sum_k += k[static_cast<size_t>(i)];
    }
  }
  ++counters_.draws;
  const double rows = static_cast<double>(ds.rows);
  const double offset = discrete_offset(ds);
  if (elbo != nullptr) *elbo = sum_e / rows - offset;
  if (reconstruction != nullptr) *reconstruction = sum_r / rows - offset;
  if (kl != nullptr) *kl = sum_k / rows;
}

void Trainer::log_likelihood_dataset(const Dataset& ds, int32_t k, int estimator, double* mean) {
  check_dataset(ds);
  if (k < 1) invalid_argument(range_message("k", 1, std::numeric_limits<int32_t>::max(), k));
  check_estimator(estimator);
  if (mean == nullptr) invalid_argument("mean: NULL");
  check_draw_room();
  std::vector<float> lp(static_cast<size_t>(config_.max_batch));
  double sum = 0;
  for (int64_t first = 0; first < ds.rows; first += config_.max_batch) {
    const int64_t rows = std::min(config_.max_batch, ds.rows - first);
    stage_evaluation_rows(ds, first, rows);
    log_likelihood_rows(rows, k, estimator, estimator_key(estimator, first, k), lp.data());
    for (int64_t i = 0; i < rows; ++i) sum += lp[static_cast<size_t>(i)];
  }
  ++counters_.draws;
  *mean = sum / static_cast<double>(ds.rows) - discrete_offset(ds);
}

}  // namespace vae
