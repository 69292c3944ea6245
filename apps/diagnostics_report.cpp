#include "diagnostics_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "conditions.h"
#include "progress.h"
#include "stop_signals.h"
#include "task_bar.h"
#include "text_file.h"
#include "vae_handles.h"

namespace vae_app {
namespace {

// Runs call() with the trainer as the signals' target; false when a signal
// interrupted it.
template <class Call>
bool run_stoppable(vae_trainer* trainer, const char* name, Call&& call) {
  vae_status status = VAE_OK;
  {
    const InterruptTarget target(trainer);
    status = call();
  }
  if (status == VAE_ERROR_INTERRUPTED && StopSignals::received() != 0) return false;
  check(status, name);
  return true;
}

bool latent_usage(vae_trainer* trainer, vae_dataset* test_set, Diagnostics* d) {
  const auto latent =
      static_cast<std::size_t>(get_int_option(trainer, VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM"));
  d->kl.assign(latent, 0.0);
  d->activity.assign(latent, 0.0);
  vae_latent_usage_options options;
  check(vae_latent_usage_options_init(&options), "vae_latent_usage_options_init");
  d->active_threshold = options.active_threshold;
  vae_latent_usage_result result{};
  result.size = sizeof result;
  result.kl = d->kl.data();
  result.activity = d->activity.data();
  TaskProgress progress(isatty(STDOUT_FILENO) != 0, "latent usage");
  TaskBar bar{&progress, TaskBar::Clock::now(), trainer};
  check(vae_set_progress(trainer, &TaskBar::update, &bar), "vae_set_progress");
  const bool done = run_stoppable(trainer, "vae_latent_usage", [&] {
    return vae_latent_usage(trainer, test_set, &options, &result);
  });
  check(vae_set_progress(trainer, nullptr, nullptr), "vae_set_progress");
  if (!done) return false;
  d->active_units = result.active_units;
  d->kl_total = result.kl_total;
  d->mutual_information = result.mutual_information;
  d->mutual_information_std_error = result.mutual_information_std_error;
  d->marginal_kl = result.marginal_kl;
  return true;
}

// The gap on the first rows of test, transformed once (the same x for
// log p(x) and both ELBOs), each under its label's condition for a
// conditional model.
bool inference_gap(const Options& options, vae_trainer* trainer, const DataMatrix& test,
                   int transform, InferenceGap* gap) {
  gap->rows = std::min(options.gap_rows, test.rows);
  gap->k = options.ll_samples;
  gap->steps = options.gap_steps;
  const std::vector<float> x =
      transformed_rows(test, gap->rows, transform, static_cast<std::uint64_t>(options.seed));
  const std::int64_t classes =
      get_int_option(trainer, VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM");
  const std::vector<float> conditions = label_conditions(test, 0, gap->rows, classes);
  const vae_rows rows{sizeof(vae_rows), gap->rows, x.data(), condition_row(conditions, 0, classes)};
  const auto n = static_cast<std::size_t>(gap->rows);
  std::vector<float> log_px(n), before(n), after(n);
  vae_likelihood_options estimate;
  check(vae_likelihood_options_init(&estimate), "vae_likelihood_options_init");
  estimate.k = static_cast<std::int32_t>(gap->k);
  const vae_likelihood_rows estimates{sizeof(vae_likelihood_rows), log_px.data(), nullptr, nullptr,
                                      nullptr};
  if (!run_stoppable(trainer, "vae_log_likelihood_stats_rows", [&] {
        return vae_log_likelihood_stats_rows(trainer, &rows, &estimate, &estimates);
      })) {
    return false;
  }
  vae_refine_options refine;
  check(vae_refine_options_init(&refine), "vae_refine_options_init");
  refine.steps = static_cast<std::int32_t>(gap->steps);
  const vae_refine_rows refined{sizeof(vae_refine_rows), nullptr, nullptr, before.data(),
                                after.data()};
  if (!run_stoppable(trainer, "vae_refine_posterior_rows", [&] {
        return vae_refine_posterior_rows(trainer, &rows, &refine, &refined);
      })) {
    return false;
  }
  std::vector<double> lp(n), encoder(n), refined_elbo(n), approximation(n), amortization(n);
  for (std::size_t i = 0; i < n; ++i) {
    lp[i] = log_px[i];
    encoder[i] = before[i];
    refined_elbo[i] = after[i];
    approximation[i] = lp[i] - refined_elbo[i];
    amortization[i] = refined_elbo[i] - encoder[i];
  }
  gap->log_px = mean_with_error(lp);
  gap->elbo_refined = mean_with_error(refined_elbo);
  gap->elbo_encoder = mean_with_error(encoder);
  gap->approximation = mean_with_error(approximation);
  gap->amortization = mean_with_error(amortization);
  return true;
}

}  // namespace

bool report_diagnostics(const Options& options, vae_trainer* trainer, const DataMatrix& test,
                        vae_dataset* test_set, int transform, const LogLikelihoodFigures* log_px,
                        const std::string& model, const std::filesystem::path& directory) {
  std::printf("diagnostics: latent usage over the test set%s...\n",
              options.gap_rows > 0 && options.ll_samples > 0 ? ", the inference gap" : "");
  std::fflush(stdout);
  Diagnostics d;
  if (log_px != nullptr) {
    d.has_log_px = true;
    d.log_px = *log_px;
  }
  if (!latent_usage(trainer, test_set, &d)) return false;
  if (options.gap_rows > 0 && options.ll_samples > 0 && test.rows > 0) {
    if (!inference_gap(options, trainer, test, transform, &d.gap)) return false;
    d.has_gap = true;
  }
  std::fputs(diagnostics_table(d).c_str(), stdout);
  const std::string json = (directory / "diagnostics.json").string();
  const std::string png = (directory / "latent_usage.png").string();
  std::printf("writing %s\nwriting %s\n", json.c_str(), png.c_str());
  write_text_file(json, diagnostics_json(d));
  write_latent_usage_png(d, model, png);
  return true;
}

}  // namespace vae_app
