// The extern "C" layer: argument checks that need the C types, the
// exception-to-status mapping and this thread's error message. No exception
// crosses this file's functions.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "capi_support.h"

using namespace vae_capi;

extern "C" {

uint32_t vae_version(void) { return VAE_VERSION; }

const char* vae_status_string(vae_status s) {
  // A caller may pass any int: switch on it as an int, so a value outside
  // the enumeration is never loaded as a vae_status.
  static_assert(sizeof(vae_status) == sizeof(int), "vae_status is int-sized");
  int code = 0;
  std::memcpy(&code, &s, sizeof code);
  switch (code) {
    case VAE_OK: return "ok";
    case VAE_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case VAE_ERROR_OUT_OF_MEMORY: return "out of memory";
    case VAE_ERROR_DEVICE: return "device error";
    case VAE_ERROR_IO: return "input/output error";
    case VAE_ERROR_FORMAT: return "malformed file";
    case VAE_ERROR_NUMERICAL: return "non-finite loss or gradient";
    case VAE_ERROR_UNSUPPORTED: return "unsupported";
    case VAE_ERROR_INTERNAL: return "internal error";
    case VAE_ERROR_INTERRUPTED: return "interrupted";
  }
  return "unknown status";
}

const char* vae_last_error(void) { return last_error.c_str(); }

vae_status vae_config_create(vae_config** out) {
  return guarded([&] {
    require(out, "out");
    *out = std::make_unique<vae_config>().release();
  });
}

void vae_config_destroy(vae_config* c) { std::unique_ptr<vae_config> owned(c); }

namespace {

void remember_set(vae_config& c, int option) {
  if (std::find(c.set_options.begin(), c.set_options.end(), option) == c.set_options.end()) {
    c.set_options.push_back(option);
  }
}

}  // namespace

vae_status vae_config_set_int(vae_config* c, int option, int64_t value) {
  return guarded([&] {
    require(c, "c")->config.set_int(option, value, false);
    remember_set(*c, option);
  });
}

vae_status vae_config_set_float(vae_config* c, int option, double value) {
  return guarded([&] {
    require(c, "c")->config.set_float(option, value, false);
    remember_set(*c, option);
  });
}

vae_status vae_config_set_hidden_layers(vae_config* c, const int32_t* widths, int32_t count) {
  return guarded([&] { require(c, "c")->config.set_hidden_layers(widths, count); });
}

vae_status vae_create(const vae_config* c, vae_trainer** out) {
  return guarded([&] {
    require(c, "c");
    require(out, "out");
    auto t = std::make_unique<vae_trainer>();
    t->impl = vae::Trainer::create(c->config);
    *out = t.release();
  });
}

void vae_destroy(vae_trainer* t) {
  if (t != nullptr && refuse_destroy(t->impl.get(), "vae_destroy")) return;
  std::unique_ptr<vae_trainer> owned(t);
}

vae_status vae_set_int(vae_trainer* t, int option, int64_t value) {
  return guarded([&] { idle_trainer(t, "vae_set_int").set_int(option, value); });
}

vae_status vae_set_float(vae_trainer* t, int option, double value) {
  return guarded([&] { idle_trainer(t, "vae_set_float").set_float(option, value); });
}

vae_status vae_get_int(const vae_trainer* t, int option, int64_t* value) {
  return guarded([&] { *require(value, "value") = trainer(t).get_int(option); });
}

vae_status vae_get_float(const vae_trainer* t, int option, double* value) {
  return guarded([&] {
    require(value, "value");
    *value = trainer(t).get_float(option);
  });
}

vae_status vae_get_hidden_layers(const vae_trainer* t, int32_t* widths, int32_t capacity,
                                 int32_t* count) {
  return guarded([&] {
    const std::vector<int64_t>& hidden = trainer(t).config().hidden;
    *require(count, "count") = static_cast<int32_t>(hidden.size());
    if (capacity < static_cast<int32_t>(hidden.size())) {
      vae::invalid_argument("capacity: the trainer has " + std::to_string(hidden.size()) +
                            " hidden layers, got room for " + std::to_string(capacity));
    }
    if (!hidden.empty()) require(widths, "widths");
    for (size_t i = 0; i < hidden.size(); ++i) widths[i] = static_cast<int32_t>(hidden[i]);
  });
}

vae_status vae_train_step(vae_trainer* t, const float* x, int64_t n, float* loss) {
  const RunningCall running_call(t);
  return guarded([&] { idle_trainer(t, "vae_train_step").train_step(x, n, loss); });
}

vae_status vae_evaluate(vae_trainer* t, const float* x, int64_t n, float* elbo,
                        float* reconstruction, float* kl) {
  return guarded(
      [&] { idle_trainer(t, "vae_evaluate").evaluate(x, n, elbo, reconstruction, kl); });
}

vae_status vae_log_likelihood(vae_trainer* t, const float* x, int64_t n, int32_t k,
                              int estimator, float* log_px) {
  return guarded([&] {
    idle_trainer(t, "vae_log_likelihood").log_likelihood(x, n, k, estimator, log_px);
  });
}

vae_status vae_likelihood_options_init(vae_likelihood_options* options) {
  return guarded([&] {
    if (options == nullptr) throw vae::Error(VAE_ERROR_INVALID_ARGUMENT, "options: NULL");
    *options = vae_likelihood_options{};
    options->size = sizeof(vae_likelihood_options);
    options->k = 1000;
    options->estimator = VAE_ESTIMATOR_IMPORTANCE;
  });
}

vae_status vae_log_likelihood_stats(vae_trainer* t, const float* x, int64_t n,
                                    const vae_likelihood_options* options,
                                    const vae_likelihood_rows* out) {
  return guarded([&] {
    idle_trainer(t, "vae_log_likelihood_stats").log_likelihood_stats(x, n, options, out);
  });
}

vae_status vae_encode(vae_trainer* t, const float* x, int64_t n, float* mu, float* logvar) {
  return guarded([&] { idle_trainer(t, "vae_encode").encode(x, n, mu, logvar); });
}

vae_status vae_decode(vae_trainer* t, const float* z, int64_t n, float* mean) {
  return guarded([&] { idle_trainer(t, "vae_decode").decode(z, n, mean); });
}

vae_status vae_sample(vae_trainer* t, int64_t n, float* mean) {
  return guarded([&] { idle_trainer(t, "vae_sample").sample(n, mean); });
}

vae_status vae_refine_options_init(vae_refine_options* options) {
  return guarded([&] {
    vae_refine_options& o = *require(options, "options");
    o.size = sizeof(vae_refine_options);
    o.steps = 100;
    o.samples = 1;
    o.elbo_samples = 100;
    o.learning_rate = 0.01;
  });
}

vae_status vae_refine_posterior(vae_trainer* t, const float* x, int64_t n,
                                const vae_refine_options* options, const vae_refine_rows* out) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_refine_posterior");
    const vae::RefineSettings s = refine_settings(options, out);
    impl.refine_posterior(x, n, s, out->mu, out->logvar, out->elbo_encoder, out->elbo_refined);
  });
}

vae_status vae_parameter_count(const vae_trainer* t, int64_t* count) {
  return guarded([&] { *require(count, "count") = trainer(t).parameter_count(); });
}

vae_status vae_get_parameters(const vae_trainer* t, float* out, int64_t count) {
  return guarded([&] { idle_trainer(t, "vae_get_parameters").get_parameters(out, count); });
}

vae_status vae_set_parameters(vae_trainer* t, const float* in, int64_t count) {
  return guarded([&] { idle_trainer(t, "vae_set_parameters").set_parameters(in, count); });
}

vae_status vae_save(const vae_trainer* t, const char* path) {
  return guarded([&] { idle_trainer(t, "vae_save").save(require(path, "path")); });
}

vae_status vae_load(const char* path, int backend, vae_trainer** out) {
  return guarded([&] {
    require(path, "path");
    require(out, "out");
    auto t = std::make_unique<vae_trainer>();
    t->impl = vae::Trainer::load(path, backend);
    *out = t.release();
  });
}

vae_status vae_load_config(const char* path, const vae_config* c, vae_trainer** out) {
  return guarded([&] {
    require(path, "path");
    require(c, "c");
    require(out, "out");
    vae::LoadChoices choices;
    for (const int option : vae::kLoadChoosableOptions) {
      if (std::find(c->set_options.begin(), c->set_options.end(), option) != c->set_options.end()) {
        choices.emplace_back(option, c->config.get_int(option));
      }
    }
    auto t = std::make_unique<vae_trainer>();
    t->impl = vae::Trainer::load(path, choices);
    *out = t.release();
  });
}

vae_status vae_dataset_create(vae_trainer* t, const float* x, int64_t n, vae_dataset** out) {
  return guarded([&] {
    require(out, "out");
    auto ds = std::make_unique<vae_dataset>();
    ds->impl = idle_trainer(t, "vae_dataset_create").create_dataset(x, n);
    *out = ds.release();
  });
}

vae_status vae_dataset_create_u8(vae_trainer* t, const uint8_t* y, int64_t n, int transform,
                                 vae_dataset** out) {
  return guarded([&] {
    require(out, "out");
    auto ds = std::make_unique<vae_dataset>();
    ds->impl = idle_trainer(t, "vae_dataset_create_u8").create_dataset(y, n, transform);
    *out = ds.release();
  });
}

void vae_dataset_destroy(vae_dataset* ds) {
  if (ds != nullptr && refuse_destroy(ds->impl->owner, "vae_dataset_destroy")) return;
  std::unique_ptr<vae_dataset> owned(ds);
}

vae_status vae_dataset_size(const vae_dataset* ds, int64_t* n) {
  return guarded([&] { *require(n, "n") = require(ds, "ds")->impl->rows; });
}

vae_status vae_train_epoch(vae_trainer* t, vae_dataset* ds, int64_t batch, float* mean_loss) {
  const RunningCall running_call(t);
  return guarded(
      [&] { idle_trainer(t, "vae_train_epoch").train_epoch(dataset(ds), batch, mean_loss); });
}

vae_status vae_set_cuda_stream(vae_trainer* t, void* stream) {
  return guarded([&] { idle_trainer(t, "vae_set_cuda_stream").set_cuda_stream(stream); });
}

vae_status vae_set_allreduce(vae_trainer* t, vae_allreduce_fn fn, void* user_data) {
  return guarded([&] { idle_trainer(t, "vae_set_allreduce").set_allreduce(fn, user_data); });
}

vae_status vae_set_progress(vae_trainer* t, vae_progress_fn fn, void* user_data) {
  return guarded([&] { idle_trainer(t, "vae_set_progress").set_progress(fn, user_data); });
}

// Signal-safe: no allocation, no lock, no thread-local state on success.
vae_status vae_interrupt(vae_trainer* t) {
  if (t == nullptr) return report(VAE_ERROR_INVALID_ARGUMENT, "", "t: NULL");
  t->impl->interrupt();
  return VAE_OK;
}

vae_status vae_evaluate_dataset(vae_trainer* t, vae_dataset* ds, double* elbo,
                                double* reconstruction, double* kl) {
  const RunningCall running_call(t);
  return guarded([&] {
    idle_trainer(t, "vae_evaluate_dataset")
        .evaluate_dataset(dataset(ds), elbo, reconstruction, kl);
  });
}

vae_status vae_log_likelihood_dataset(vae_trainer* t, vae_dataset* ds, int32_t k, int estimator,
                                      double* mean_log_px) {
  const RunningCall running_call(t);
  return guarded([&] {
    idle_trainer(t, "vae_log_likelihood_dataset")
        .log_likelihood_dataset(dataset(ds), k, estimator, mean_log_px);
  });
}

vae_status vae_log_likelihood_stats_dataset(vae_trainer* t, vae_dataset* ds,
                                            const vae_likelihood_options* options,
                                            vae_likelihood_summary* out) {
  const RunningCall running_call(t);
  return guarded([&] {
    idle_trainer(t, "vae_log_likelihood_stats_dataset")
        .log_likelihood_stats_dataset(dataset(ds), options, out);
  });
}

vae_status vae_latent_usage_options_init(vae_latent_usage_options* options) {
  return guarded([&] {
    if (options == nullptr) throw vae::Error(VAE_ERROR_INVALID_ARGUMENT, "options: NULL");
    *options = vae_latent_usage_options{};
    options->size = sizeof(vae_latent_usage_options);
    options->active_threshold = 0.01;
    options->mi_rows = 1000;
    options->mi_samples = 1;
  });
}

vae_status vae_latent_usage(vae_trainer* t, vae_dataset* ds,
                            const vae_latent_usage_options* options,
                            vae_latent_usage_result* out) {
  const RunningCall running_call(t);
  return guarded([&] {
    idle_trainer(t, "vae_latent_usage").latent_usage(dataset(ds), options, out);
  });
}

}  // extern "C"
