// The Trainer the bindings expose (libvae_ext.cpp), beside Config
// (config.h) and Dataset (dataset.h): a vae_trainer, every call of vae.h on
// it, the GIL released where the library works. The calls that take rows
// take their conditions too (conditions.h): each is the _rows call of
// vae.h, which for a model without conditions is its namesake. Arrays in
// are float32 (uint8 for byte datasets and labels) in C order, on the host
// or, for the CUDA backend, on the GPU; arrays out are NumPy arrays on the
// host.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "arrays.h"
#include "conditions.h"
#include "config.h"
#include "dataset.h"
#include "paths.h"
#include "progress_relay.h"
#include "sigint_relay.h"
#include "trainer_handle.h"

namespace libvae_ext {

namespace nb = nanobind;

class Trainer {
 public:
  explicit Trainer(const Config& config) : Trainer(create(config)) {}

  static Trainer load(const std::string& path, int backend) {
    vae_trainer* t = nullptr;
    const char* file = c_path(path);
    run_without_gil([&] { return outcome_of(vae_load(file, backend, &t)); }).check();
    return Trainer(TrainerPtr(t, &vae_destroy));
  }

  // vae_load_config: the options set on `choices` replace the file's.
  static Trainer load_config(const std::string& path, const Config& choices) {
    vae_trainer* t = nullptr;
    const char* file = c_path(path);
    run_without_gil([&] { return outcome_of(vae_load_config(file, choices.get(), &t)); }).check();
    return Trainer(TrainerPtr(t, &vae_destroy));
  }

  // VAE_OPT_CONDITION_DIM, read when the trainer was made (it fixes the
  // model), so that the calls with rows ask for none.
  int64_t condition_dim() const { return conditions_.dim(); }

  int64_t get_int(vae_option option) const {
    int64_t value = 0;
    run([&](vae_trainer* t) { return outcome_of(vae_get_int(t, option, &value)); });
    return value;
  }
  double get_float(vae_option option) const {
    double value = 0;
    run([&](vae_trainer* t) { return outcome_of(vae_get_float(t, option, &value)); });
    return value;
  }
  void set_int(vae_option option, int64_t value) {
    run([&](vae_trainer* t) { return outcome_of(vae_set_int(t, option, value)); });
  }
  void set_float(vae_option option, double value) {
    run([&](vae_trainer* t) { return outcome_of(vae_set_float(t, option, value)); });
  }

  std::optional<float> train_step(const Floats& x, bool return_loss,
                                  const OptionalFloats& condition) {
    const vae_rows r = rows_with(x, "x", input_dim_, condition);
    float loss = 0;
    run_steps([&](vae_trainer* t) {
      return outcome_of(vae_train_step_rows(t, &r, return_loss ? &loss : nullptr));
    }).check();
    return return_loss ? std::optional<float>(loss) : std::nullopt;
  }

  std::tuple<NumpyFloats, NumpyFloats, NumpyFloats> evaluate(const Floats& x,
                                                             const OptionalFloats& condition) {
    const vae_rows r = rows_with(x, "x", input_dim_, condition);
    const auto n = size_t(r.n);
    NumpyFloats elbo = new_array({n}), reconstruction = new_array({n}), kl = new_array({n});
    run_long([&](vae_trainer* t) {
      return outcome_of(vae_evaluate_rows(t, &r, elbo.data(), reconstruction.data(), kl.data()));
    });
    return {elbo, reconstruction, kl};
  }

  NumpyFloats log_likelihood(const Floats& x, int32_t k, int estimator,
                             const OptionalFloats& condition) {
    const vae_rows r = rows_with(x, "x", input_dim_, condition);
    NumpyFloats log_px = new_array({size_t(r.n)});
    run_long([&](vae_trainer* t) {
      return outcome_of(vae_log_likelihood_rows(t, &r, k, estimator, log_px.data()));
    });
    return log_px;
  }

  // vae_log_likelihood_stats: per row log p^, its standard error, the ESS
  // and the K used.
  std::tuple<NumpyFloats, NumpyFloats, NumpyFloats, nb::ndarray<nb::numpy, int32_t>>
  log_likelihood_stats(const Floats& x, int32_t k, int estimator, bool adaptive, int32_t k_max,
                       double target, const OptionalFloats& condition) {
    const vae_rows r = rows_with(x, "x", input_dim_, condition);
    const auto n = size_t(r.n);
    const vae_likelihood_options o = likelihood_options(k, estimator, adaptive, k_max, target);
    NumpyFloats log_px = new_array({n}), se = new_array({n}), ess = new_array({n});
    auto k_used = new_array<int32_t>({n});
    const vae_likelihood_rows out{sizeof out, log_px.data(), se.data(), ess.data(), k_used.data()};
    run_long([&](vae_trainer* t) {
      return outcome_of(vae_log_likelihood_stats_rows(t, &r, &o, &out));
    });
    return {log_px, se, ess, k_used};
  }

  // vae_refine_posterior: the refined mu and logvar, and the ELBO per row
  // with the encoder's parameters and with the refined ones.
  std::tuple<NumpyFloats, NumpyFloats, NumpyFloats, NumpyFloats> refine_posterior(
      const Floats& x, int32_t steps, int32_t samples, int32_t elbo_samples,
      double learning_rate, const OptionalFloats& condition) {
    const vae_rows r = rows_with(x, "x", input_dim_, condition);
    const auto n = size_t(r.n);
    const vae_refine_options o{sizeof o, steps, samples, elbo_samples, learning_rate};
    NumpyFloats mu = new_array({n, size_t(latent_dim_)});
    NumpyFloats logvar = new_array({n, size_t(latent_dim_)});
    NumpyFloats before = new_array({n}), after = new_array({n});
    const vae_refine_rows out{sizeof out, mu.data(), logvar.data(), before.data(), after.data()};
    run_long([&](vae_trainer* t) {
      return outcome_of(vae_refine_posterior_rows(t, &r, &o, &out));
    });
    return {mu, logvar, before, after};
  }

  std::tuple<NumpyFloats, NumpyFloats> encode(const Floats& x, const OptionalFloats& condition) {
    const vae_rows r = rows_with(x, "x", input_dim_, condition);
    NumpyFloats mu = new_array({size_t(r.n), size_t(latent_dim_)});
    NumpyFloats logvar = new_array({size_t(r.n), size_t(latent_dim_)});
    run_long([&](vae_trainer* t) {
      return outcome_of(vae_encode_rows(t, &r, mu.data(), logvar.data()));
    });
    return {mu, logvar};
  }

  NumpyFloats decode(const Floats& z, const OptionalFloats& condition) {
    const vae_rows r = rows_with(z, "z", latent_dim_, condition);
    NumpyFloats mean = new_array({size_t(r.n), size_t(input_dim_)});
    run_long([&](vae_trainer* t) { return outcome_of(vae_decode_rows(t, &r, mean.data())); });
    return mean;
  }

  // n draws z ~ p(z), draw i decoded under condition row i.
  NumpyFloats sample(int64_t n, const OptionalFloats& condition) {
    if (n < 1) invalid_argument("n: the number of samples must be >= 1, got " + std::to_string(n));
    const vae_rows r = conditions_.rows(nullptr, n, condition, "the samples");
    NumpyFloats mean = new_array({size_t(n), size_t(input_dim_)});
    run_long([&](vae_trainer* t) { return outcome_of(vae_sample_rows(t, &r, mean.data())); });
    return mean;
  }

  std::vector<int32_t> hidden_layers() const {
    std::vector<int32_t> widths(VAE_MAX_HIDDEN_LAYERS);
    int32_t count = 0;
    run([&](vae_trainer* t) {
      return outcome_of(vae_get_hidden_layers(t, widths.data(), VAE_MAX_HIDDEN_LAYERS, &count));
    });
    widths.resize(static_cast<size_t>(count));
    return widths;
  }

  int64_t parameter_count() const {
    int64_t count = 0;
    run([&](vae_trainer* t) { return outcome_of(vae_parameter_count(t, &count)); });
    return count;
  }

  NumpyFloats get_parameters() const {
    const int64_t count = parameter_count();
    NumpyFloats values = new_array({size_t(count)});
    run([&](vae_trainer* t) { return outcome_of(vae_get_parameters(t, values.data(), count)); });
    return values;
  }

  void set_parameters(const Floats& values) {
    const int64_t count = parameter_count();
    backend_.check(values, "parameters");
    if (values.ndim() != 1 || static_cast<int64_t>(values.shape(0)) != count) {
      invalid_argument("parameters: expected an array of shape (" + std::to_string(count) +
                       ",), got shape " + shape_of(values));
    }
    run([&](vae_trainer* t) { return outcome_of(vae_set_parameters(t, values.data(), count)); });
  }

  void save(const std::string& path) const {
    const char* file = c_path(path);
    run([&](vae_trainer* t) { return outcome_of(vae_save(t, file)); });
  }

  void set_cuda_stream(uintptr_t stream) {
    run([&](vae_trainer* t) {
      return outcome_of(vae_set_cuda_stream(t, reinterpret_cast<void*>(stream)));
    });
  }

  Dataset dataset(const Floats& x, const std::string& name) {
    const int64_t n = rows(x, name, input_dim_);
    vae_dataset* ds = nullptr;
    run([&](vae_trainer* t) { return outcome_of(vae_dataset_create(t, x.data(), n, &ds)); });
    return Dataset(handle_, Dataset::Ptr(ds, &vae_dataset_destroy), n);
  }

  Dataset dataset_u8(const Bytes& y, int transform, const std::string& name) {
    const int64_t n = rows(y, name, input_dim_);
    vae_dataset* ds = nullptr;
    run([&](vae_trainer* t) {
      return outcome_of(vae_dataset_create_u8(t, y.data(), n, transform, &ds));
    });
    return Dataset(handle_, Dataset::Ptr(ds, &vae_dataset_destroy), n);
  }

  // The dataset's conditions (vae_dataset_set_conditions): (rows, C) floats.
  void set_dataset_conditions(const Dataset& ds, const Floats& condition) {
    conditions_.check_dataset_conditions(condition, ds.rows());
    run([&](vae_trainer* t) {
      return outcome_of(vae_dataset_set_conditions(t, ds.get(), condition.data(), ds.rows()));
    });
  }

  // The dataset's class labels, one-hot conditions (vae_dataset_set_labels).
  void set_dataset_labels(const Dataset& ds, const Bytes& labels) {
    conditions_.check_dataset_labels(labels, ds.rows());
    run([&](vae_trainer* t) {
      return outcome_of(vae_dataset_set_labels(t, ds.get(), labels.data(), ds.rows()));
    });
  }

  float train_epoch(const Dataset& ds, int64_t batch, nb::object progress) {
    float loss = 0;
    run_with_progress(std::move(progress), [&](vae_trainer* t) {
      return outcome_of(vae_train_epoch(t, ds.get(), batch, &loss));
    });
    return loss;
  }

  // Data parallelism: hook(buffer, stream) replaces each step's buffer by
  // the sum over the ranks (allreduce_relay.h); None removes it.
  void set_allreduce(nb::object hook) {
    std::shared_ptr<AllreduceRelay> relay;
    if (!hook.is_none()) {
      if (PyCallable_Check(hook.ptr()) == 0) {
        invalid_argument("allreduce: expected a callable hook(buffer, stream) or None, got " +
                         std::string(nb::inst_name(hook).c_str()));
      }
      relay = std::make_shared<AllreduceRelay>(
          std::move(hook), static_cast<int32_t>(get_int(VAE_OPT_DEVICE)), handle_->memory());
    }
    std::shared_ptr<AllreduceRelay> old;
    run([&](vae_trainer* t) {
      Outcome set = outcome_of(
          vae_set_allreduce(t, relay ? &AllreduceRelay::call : nullptr, relay.get()));
      if (set.status == VAE_OK) old = handle_->exchange_allreduce(relay);
      return set;
    });
  }

  // For the garbage collector (see trainer_traverse): the hook this object
  // holds, and its removal once the object is unreachable (so no call can
  // be running), with the GIL held.
  nb::handle allreduce_hook() const {
    const std::shared_ptr<AllreduceRelay> relay = handle_->allreduce();
    return relay ? relay->hook() : nb::handle();  // the handle keeps it alive
  }
  void drop_allreduce() {
    if (!handle_->allreduce()) return;
    static_cast<void>(vae_set_allreduce(handle_->get(), nullptr, nullptr));  // cannot fail
    handle_->exchange_allreduce(nullptr);
  }

  // Stops the epoch or dataset evaluation that another thread runs on this
  // trainer (vae_interrupt): without waiting for the trainer, which that
  // call holds.
  void interrupt() { outcome_of(vae_interrupt(handle_->get())).check(); }

  std::tuple<double, double, double> evaluate_dataset(const Dataset& ds, nb::object progress) {
    double elbo = 0, reconstruction = 0, kl = 0;
    run_with_progress(std::move(progress), [&](vae_trainer* t) {
      return outcome_of(vae_evaluate_dataset(t, ds.get(), &elbo, &reconstruction, &kl));
    });
    return {elbo, reconstruction, kl};
  }

  // vae_log_likelihood_stats_dataset: (mean log p^, its standard error,
  // mean ESS, mean K).
  std::tuple<double, double, double, double> log_likelihood_stats_dataset(
      const Dataset& ds, int32_t k, int estimator, bool adaptive, int32_t k_max, double target,
      nb::object progress) {
    const vae_likelihood_options o = likelihood_options(k, estimator, adaptive, k_max, target);
    vae_likelihood_summary s{};
    s.size = sizeof s;
    run_with_progress(std::move(progress), [&](vae_trainer* t) {
      return outcome_of(vae_log_likelihood_stats_dataset(t, ds.get(), &o, &s));
    });
    return {s.mean_log_px, s.std_error, s.mean_ess, s.mean_k_used};
  }

  // vae_latent_usage: (kl, activity, active_units, kl_total, I, its
  // standard error, KL(q(z) || p(z))).
  std::tuple<nb::ndarray<nb::numpy, double>, nb::ndarray<nb::numpy, double>, int64_t, double,
             double, double, double>
  latent_usage(const Dataset& ds, double threshold, int64_t mi_rows, int32_t mi_samples,
               nb::object progress) {
    vae_latent_usage_options o{sizeof o, threshold, mi_rows, mi_samples};
    auto kl = new_array<double>({size_t(latent_dim_)});
    auto activity = new_array<double>({size_t(latent_dim_)});
    vae_latent_usage_result r{};
    r.size = sizeof r;
    r.kl = kl.data();
    r.activity = activity.data();
    run_with_progress(std::move(progress), [&](vae_trainer* t) {
      return outcome_of(vae_latent_usage(t, ds.get(), &o, &r));
    });
    return {kl, activity, r.active_units, r.kl_total, r.mutual_information,
            r.mutual_information_std_error, r.marginal_kl};
  }

  double log_likelihood_dataset(const Dataset& ds, int32_t k, int estimator, nb::object progress) {
    double mean = 0;
    run_with_progress(std::move(progress), [&](vae_trainer* t) {
      return outcome_of(vae_log_likelihood_dataset(t, ds.get(), k, estimator, &mean));
    });
    return mean;
  }

 private:
  explicit Trainer(TrainerPtr trainer)
      : handle_(std::make_shared<TrainerHandle>(std::move(trainer))),
        input_dim_(get_int(VAE_OPT_INPUT_DIM)),
        latent_dim_(get_int(VAE_OPT_LATENT_DIM)),
        backend_{get_int(VAE_OPT_BACKEND) == VAE_BACKEND_CUDA,
                 static_cast<int32_t>(get_int(VAE_OPT_DEVICE))},
        conditions_(get_int(VAE_OPT_CONDITION_DIM), backend_) {}

  static vae_likelihood_options likelihood_options(int32_t k, int estimator, bool adaptive,
                                                   int32_t k_max, double target) {
    vae_likelihood_options o{};
    outcome_of(vae_likelihood_options_init(&o)).check();
    o.k = k;
    o.estimator = estimator;
    o.adaptive = adaptive ? 1 : 0;
    o.k_max = k_max;
    o.target_std_error = target;
    return o;
  }

  // The rows of an (n, width) array in memory the backend reads.
  template <class Array>
  int64_t rows(const Array& a, const std::string& name, int64_t width) const {
    backend_.check(a, name);
    return rows_of(a, name, width);
  }

  // The rows of an (n, width) array x with their conditions (conditions.h).
  vae_rows rows_with(const Floats& x, const std::string& name, int64_t width,
                     const OptionalFloats& condition) const {
    return conditions_.rows(x.data(), rows(x, name, width), condition, name);
  }

  static TrainerPtr create(const Config& config) {
    vae_trainer* t = nullptr;
    run_without_gil([&] { return outcome_of(vae_create(config.get(), &t)); }).check();
    return TrainerPtr(t, &vae_destroy);
  }

  template <class Call>
  void run(Call&& call) const {
    handle_->run(std::forward<Call>(call)).check();
  }

  // A call that may run long: Ctrl-C stops it (sigint_relay.h) and is
  // raised when it returns.
  template <class Call>
  void run_long(Call&& call) const {
    SigintRelay sigint(handle_->get());
    const Outcome done = handle_->run(std::forward<Call>(call));
    sigint.raise_caught();
    done.check();
  }

  // A call that may take training steps: an exception the Python allreduce
  // hook raised in them is raised here; otherwise the call's outcome.
  template <class Call>
  Outcome run_steps(Call&& call) {
    std::exception_ptr raised;
    std::shared_ptr<AllreduceRelay> allreduce;  // released with the GIL held
    Outcome done = handle_->run([&](vae_trainer* t) {
      allreduce = handle_->allreduce();
      Outcome outcome = call(t);
      if (allreduce) raised = allreduce->take_pending();  // still holding the trainer
      return outcome;
    });
    if (raised) std::rethrow_exception(raised);
    return done;
  }

  // A call that reports progress, with the callback relayed to `progress`
  // (None: no callback) and cleared afterwards. An exception of the
  // allreduce hook is raised first, then one of the callback (or a Ctrl-C).
  template <class Call>
  void run_with_progress(nb::object progress, Call&& call) {
    if (!progress.is_none() && PyCallable_Check(progress.ptr()) == 0) {
      invalid_argument("progress: expected a callable progress(rows_done, rows_total, mean) or "
                       "None, got " + std::string(nb::inst_name(progress).c_str()));
    }
    ProgressRelay relay(std::move(progress), handle_->get());
    SigintRelay sigint(handle_->get());
    const Outcome done = run_steps([&](vae_trainer* t) {
      Outcome set = outcome_of(vae_set_progress(t, &ProgressRelay::call, &relay));
      if (set.status != VAE_OK) return set;
      Outcome ran = call(t);
      Outcome cleared = outcome_of(vae_set_progress(t, nullptr, nullptr));
      return ran.status != VAE_OK ? ran : cleared;
    });
    sigint.raise_caught();
    relay.raise_pending();
    done.check();
  }

  std::shared_ptr<TrainerHandle> handle_;
  int64_t input_dim_;
  int64_t latent_dim_;
  Backend backend_;  // the memory its arrays may be in
  Conditions conditions_;
};

}  // namespace libvae_ext
