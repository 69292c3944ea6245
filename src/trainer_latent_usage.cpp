// vae_latent_usage (vae.h): the encoder over a dataset's rows in chunks of
// max batch rows, their per-dimension KL and activity, and the mutual
// information of the aggregate posterior (src/latent_usage.h), on the host.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "device_pointer.h"
#include "error.h"
#include "interrupt_window.h"
#include "latent_usage.h"
#include "trainer.h"

namespace vae {

void Trainer::check_latent_usage_arguments(const vae_latent_usage_options* o,
                                           const vae_latent_usage_result* out) const {
  if (o == nullptr) invalid_argument("options: NULL");
  if (o->size != sizeof(vae_latent_usage_options)) {
    MessageStream m;
    m << "options.size: must be sizeof(vae_latent_usage_options) = "
      << sizeof(vae_latent_usage_options) << " (vae_latent_usage_options_init sets it), got "
      << o->size;
    invalid_argument(m.str());
  }
  if (!(std::isfinite(o->active_threshold) && o->active_threshold >= 0)) {
    MessageStream m;
    m << "options.active_threshold: must be finite and >= 0, got " << o->active_threshold;
    invalid_argument(m.str());
  }
  if (o->mi_rows < 1) {
    MessageStream m;
    m << "options.mi_rows: must be >= 1, got " << o->mi_rows;
    invalid_argument(m.str());
  }
  if (o->mi_samples < 1) {
    MessageStream m;
    m << "options.mi_samples: must be >= 1, got " << o->mi_samples;
    invalid_argument(m.str());
  }
  if (out == nullptr) invalid_argument("out: NULL");
  if (out->size != sizeof(vae_latent_usage_result)) {
    MessageStream m;
    m << "out.size: must be sizeof(vae_latent_usage_result) = " << sizeof(vae_latent_usage_result)
      << ", got " << out->size;
    invalid_argument(m.str());
  }
  // The per-dimension arrays are written on the host.
  if (out->kl != nullptr && pointer_is_device(out->kl)) {
    invalid_argument("out.kl: device memory; it must be host memory");
  }
  if (out->activity != nullptr && pointer_is_device(out->activity)) {
    invalid_argument("out.activity: device memory; it must be host memory");
  }
}

void Trainer::latent_usage(const Dataset& ds, const vae_latent_usage_options* options,
                           vae_latent_usage_result* out) {
  const char* name = "vae_latent_usage";
  check_not_in_evaluation(name);
  check_dataset(ds);
  check_latent_usage_arguments(options, out);
  const int64_t n = ds.rows;
  const int64_t latent = config_.latent_dim;
  const int64_t outer = std::min(options->mi_rows, n);
  check_pairs(outer, options->mi_samples);
  check_draw_room();
  const auto values = static_cast<size_t>(n * latent);
  std::vector<float> mu(values), logvar(values);
  LatentMoments moments(latent);
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  const int64_t chunks = (n + config_.max_batch - 1) / config_.max_batch;
  for (int64_t index = 0; index < chunks; ++index) {
    const int64_t first = index * config_.max_batch;
    const int64_t rows = std::min(config_.max_batch, n - first);
    stop_if_interrupted(name, first, n);
    Input in;
    in.dataset = &ds;
    in.first = first;
    in.bytes = key(NoiseStream::kEvalBytes, draws_, first * config_.input_dim);
    stage_input(in, rows);
    encode_rows(rows, mu.data() + first * latent, logvar.data() + first * latent);
    moments.add(mu.data() + first * latent, logvar.data() + first * latent, rows);
    if (progress_ != nullptr && progress_due(index + 1, chunks)) {
      in_evaluation_callback_ = name;
      progress_(progress_user_data_, first + rows, n, moments.kl_total());
      in_evaluation_callback_ = nullptr;
    }
  }
  const MutualInformation mi =
      mutual_information(mu.data(), logvar.data(), n, latent, outer, options->mi_samples,
                         key(NoiseStream::kEvalLatent, draws_),
                         [&](int64_t m) { stop_if_interrupted(name, m, outer); });
  int64_t active = 0;
  for (int64_t u = 0; u < latent; ++u) {
    active += moments.activity(u) > options->active_threshold ? 1 : 0;
    if (out->kl != nullptr) out->kl[u] = moments.kl(u);
    if (out->activity != nullptr) out->activity[u] = moments.activity(u);
  }
  out->active_units = active;
  out->kl_total = moments.kl_total();
  out->mutual_information = mi.estimate;
  out->mutual_information_std_error = mi.std_error;
  out->marginal_kl = out->kl_total - mi.estimate;
  ++draws_;
}

}  // namespace vae
