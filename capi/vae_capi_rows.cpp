// The C API of a conditional model (vae.h, "rows with conditions"): each
// _rows call checks its vae_rows and is its namesake with the rows'
// conditions; a dataset's conditions.
#include <string>

#include "capi_support.h"

using namespace vae_capi;

namespace {

// rows, checked: not NULL and of a size this library knows. The rest
// (n, data, condition) the trainer checks as its namesake's arguments.
const vae_rows& checked_rows(const vae_rows* rows) {
  const vae_rows& r = *require(rows, "rows");
  if (r.size != sizeof(vae_rows)) {
    vae::invalid_argument("rows->size: " + std::to_string(r.size) +
                          " is not the size of a vae_rows this library knows (" +
                          std::to_string(sizeof(vae_rows)) + ")");
  }
  return r;
}

}  // namespace

extern "C" {

vae_status vae_train_step_rows(vae_trainer* t, const vae_rows* rows, float* loss) {
  const RunningCall running_call(t);
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_train_step_rows");
    const vae_rows& r = checked_rows(rows);
    impl.train_step(r.data, r.n, loss, r.condition);
  });
}

vae_status vae_evaluate_rows(vae_trainer* t, const vae_rows* rows, float* elbo,
                             float* reconstruction, float* kl) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_evaluate_rows");
    const vae_rows& r = checked_rows(rows);
    impl.evaluate(r.data, r.n, elbo, reconstruction, kl, r.condition);
  });
}

vae_status vae_log_likelihood_rows(vae_trainer* t, const vae_rows* rows, int32_t k,
                                   int estimator, float* log_px) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_log_likelihood_rows");
    const vae_rows& r = checked_rows(rows);
    impl.log_likelihood(r.data, r.n, k, estimator, log_px, r.condition);
  });
}

vae_status vae_log_likelihood_stats_rows(vae_trainer* t, const vae_rows* rows,
                                         const vae_likelihood_options* options,
                                         const vae_likelihood_rows* out) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_log_likelihood_stats_rows");
    const vae_rows& r = checked_rows(rows);
    impl.log_likelihood_stats(r.data, r.n, options, out, r.condition);
  });
}

vae_status vae_encode_rows(vae_trainer* t, const vae_rows* rows, float* mu, float* logvar) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_encode_rows");
    const vae_rows& r = checked_rows(rows);
    impl.encode(r.data, r.n, mu, logvar, r.condition);
  });
}

vae_status vae_decode_rows(vae_trainer* t, const vae_rows* rows, float* mean) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_decode_rows");
    const vae_rows& r = checked_rows(rows);
    impl.decode(r.data, r.n, mean, r.condition);
  });
}

vae_status vae_sample_rows(vae_trainer* t, const vae_rows* rows, float* mean) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_sample_rows");
    const vae_rows& r = checked_rows(rows);
    if (r.data != nullptr) vae::invalid_argument("rows->data: vae_sample_rows takes none; NULL");
    impl.sample(r.n, mean, r.condition);
  });
}

vae_status vae_refine_posterior_rows(vae_trainer* t, const vae_rows* rows,
                                     const vae_refine_options* options,
                                     const vae_refine_rows* out) {
  return guarded([&] {
    vae::Trainer& impl = idle_trainer(t, "vae_refine_posterior_rows");
    const vae_rows& r = checked_rows(rows);
    const vae::RefineSettings s = refine_settings(options, out);
    impl.refine_posterior(r.data, r.n, s, out->mu, out->logvar, out->elbo_encoder,
                          out->elbo_refined, r.condition);
  });
}

vae_status vae_dataset_set_conditions(vae_trainer* t, vae_dataset* ds, const float* condition,
                                      int64_t n) {
  return guarded([&] {
    idle_trainer(t, "vae_dataset_set_conditions").set_dataset_conditions(dataset(ds), condition, n);
  });
}

vae_status vae_dataset_set_labels(vae_trainer* t, vae_dataset* ds, const uint8_t* labels,
                                  int64_t n) {
  return guarded([&] {
    idle_trainer(t, "vae_dataset_set_labels").set_dataset_labels(dataset(ds), labels, n);
  });
}

}  // extern "C"
