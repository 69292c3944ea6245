// The diagnostics calls of an API program (api_session.h):
// vae_log_likelihood_stats, its dataset form, vae_latent_usage and
// vae_refine_posterior, with
// options of any size and value (k from pick_k's small and invalid values,
// k_max small or invalid, targets and thresholds from the special doubles), NULL
// pointers and output structs of a wrong size. A success draws noise once
// and changes nothing else; a failure changes nothing (ApiSession::check).
#include <cstdint>
#include <iterator>
#include <vector>

#include "api_session.h"

namespace vae_fuzz {

vae_likelihood_options ApiSession::likelihood_options() {
  vae_likelihood_options o{};
  require(vae_likelihood_options_init(&o) == VAE_OK, "vae_likelihood_options_init failed");
  if (program_.one_in(8)) o.size = program_.choice(64);
  o.k = pick_k();
  o.estimator = static_cast<int>(program_.choice(4)) - 1;
  o.adaptive = static_cast<int32_t>(program_.choice(3));  // 2 is refused
  const int32_t k_maxes[] = {0, 1, 2, 3, 4, 8, 16, -1};  // small: adaptive rounds stay cheap
  o.k_max = k_maxes[program_.choice(std::size(k_maxes))];
  o.target_std_error = program_.double_value();
  return o;
}

ApiSession::Outcome ApiSession::log_likelihood_stats() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> x = floats(limit, dim_);
  const vae_likelihood_options options = likelihood_options();
  const unsigned nulls = program_.null_mask();
  std::vector<float> log_px(limit), std_error(limit), ess(limit);
  std::vector<int32_t> k_used(limit);
  const vae_likelihood_rows out{program_.one_in(8) ? program_.choice(64) : sizeof out,
                                unless(nulls, 3, log_px.data()), std_error.data(),
                                program_.one_in(2) ? nullptr : ess.data(),
                                unless(nulls, 4, k_used.data())};
  o.status = vae_log_likelihood_stats(t_, unless(nulls, 0, x.data()), n,
                                      unless(nulls, 1, &options), unless(nulls, 2, &out));
  return o;
}

ApiSession::Outcome ApiSession::log_likelihood_stats_dataset() {
  Outcome o;
  o.effect = Effect::kDraw;
  Dataset* d = pick_dataset();
  o.dataset = d;
  const vae_likelihood_options options = likelihood_options();
  const unsigned nulls = program_.null_mask();
  vae_likelihood_summary out{};
  out.size = program_.one_in(8) ? program_.choice(64) : sizeof out;
  progress_ = ProgressLog{0, d ? d->rows : 0, true};
  o.status = vae_log_likelihood_stats_dataset(t_, d ? d->handle : nullptr,
                                              unless(nulls, 0, &options), unless(nulls, 1, &out));
  return o;
}

ApiSession::Outcome ApiSession::latent_usage() {
  Outcome o;
  o.effect = Effect::kDraw;
  Dataset* d = pick_dataset();
  o.dataset = d;
  vae_latent_usage_options options{};
  require(vae_latent_usage_options_init(&options) == VAE_OK,
          "vae_latent_usage_options_init failed");
  if (program_.one_in(8)) options.size = program_.choice(64);
  if (program_.one_in(2)) options.active_threshold = program_.double_value();
  options.mi_rows = program_.one_in(2) ? program_.int_value() : 1 + program_.choice(8);
  options.mi_samples = static_cast<int32_t>(program_.one_in(2) ? pick_k() : 1 + program_.choice(3));
  const unsigned nulls = program_.null_mask();
  std::vector<double> kl(static_cast<size_t>(latent_)), activity(kl.size());
  vae_latent_usage_result out{};
  out.size = program_.one_in(8) ? program_.choice(64) : sizeof out;
  out.kl = unless(nulls, 2, kl.data());
  out.activity = unless(nulls, 3, activity.data());
  progress_ = ProgressLog{0, d ? d->rows : 0, true};
  o.status = vae_latent_usage(t_, d ? d->handle : nullptr, unless(nulls, 0, &options),
                              unless(nulls, 1, &out));
  return o;
}

vae_refine_options ApiSession::refine_options() {
  vae_refine_options o{};
  require(vae_refine_options_init(&o) == VAE_OK, "vae_refine_options_init failed");
  if (program_.one_in(8)) o.size = program_.choice(64);
  // Few and cheap steps and samples, or invalid ones (samples past the
  // workspace included).
  const int32_t steps[] = {0, 1, 2, 3, -1};
  const int32_t samples[] = {1, 2, 3, 0, -1, 1 << 20};
  o.steps = steps[program_.choice(std::size(steps))];
  o.samples = samples[program_.choice(std::size(samples))];
  o.elbo_samples = samples[program_.choice(std::size(samples) - 1)];
  if (program_.one_in(2)) o.learning_rate = program_.double_value();
  return o;
}

ApiSession::Outcome ApiSession::refine_posterior() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> x = floats(limit, dim_);
  const vae_refine_options options = refine_options();
  const unsigned nulls = program_.null_mask();
  std::vector<float> mu(static_cast<size_t>(limit * latent_)), logvar(mu.size()), before(limit),
      after(limit);
  const vae_refine_rows out{program_.one_in(8) ? program_.choice(64) : sizeof out,
                            unless(nulls, 3, mu.data()), unless(nulls, 4, logvar.data()),
                            program_.one_in(2) ? nullptr : before.data(),
                            unless(nulls, 5, after.data())};
  o.status = vae_refine_posterior(t_, unless(nulls, 0, x.data()), n, unless(nulls, 1, &options),
                                  unless(nulls, 2, &out));
  return o;
}

}  // namespace vae_fuzz
