// vae_refine_posterior (vae.h): the lecture's non-amortized E-step for the
// caller's rows, in chunks the workspace holds (src/posterior_refiner.h),
// vae_interrupt checked before each chunk and each Adam step.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "error.h"
#include "interrupt_window.h"
#include "trainer.h"

namespace vae {
namespace {

// The most steps and samples a call takes: far past any use, and small
// enough that the noise indices below stay below 2^62.
constexpr int64_t kMaxRefineCount = int64_t{1} << 30;

void check_count(int64_t value, int64_t least, const char* name) {
  if (value < least || value > kMaxRefineCount) {
    MessageStream m;
    m << name << ": must be in [" << least << ", " << kMaxRefineCount << "], got " << value;
    invalid_argument(m.str());
  }
}

}  // namespace

void Trainer::refine_posterior(const float* x, int64_t n, const RefineSettings& s, float* mu,
                               float* logvar, float* elbo_encoder, float* elbo_refined,
                               const float* condition) {
  check_not_in_evaluation("vae_refine_posterior");
  check_pointer(x, "x");
  check_condition(condition, "vae_refine_posterior");
  check_rows(n, kMaxRows, "n");
  check_outputs({mu, logvar, elbo_encoder, elbo_refined});
  check_count(s.steps, 0, "steps");
  check_count(s.samples, 1, "samples");
  check_count(s.elbo_samples, 1, "elbo_samples");
  if (!(std::isfinite(s.learning_rate) && s.learning_rate > 0)) {
    MessageStream m;
    m << "learning_rate: must be finite and above 0, got " << s.learning_rate;
    invalid_argument(m.str());
  }
  // The call's noise, one array: sample j of row i (j < T K for the steps,
  // then the ELBO's) takes elements [(j n + i) Z, (j n + i + 1) Z).
  const double places = (static_cast<double>(s.steps) * static_cast<double>(s.samples) +
                         static_cast<double>(s.elbo_samples)) *
                        static_cast<double>(n) * static_cast<double>(config_.latent_dim);
  if (places >= 0x1p62) {
    invalid_argument("vae_refine_posterior: (steps * samples + elbo_samples) * n * latent_dim "
                     "must be below 2^62 (the call's noise indices)");
  }
  const int64_t chunk = refine_chunk_rows(s);
  if (chunk < 1) {
    MessageStream m;
    m << "samples: " << s.samples << " per row do not fit the workspace's "
      << config_.max_batch * config_.samples
      << " decoder rows (VAE_OPT_MAX_BATCH * VAE_OPT_SAMPLES)";
    invalid_argument(m.str());
  }
  check_draw_room();
  const int64_t d = config_.input_dim;
  const int64_t z = config_.latent_dim;
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  RefineChunk c;
  c.n_total = n;
  c.key = key(NoiseStream::kRefine, draws_);
  std::vector<double> encoder_values, refined_values;
  std::vector<float> out;
  for (c.first = 0; c.first < n; c.first += chunk) {
    stop_if_interrupted("vae_refine_posterior", c.first, n, true);
    c.rows = std::min(chunk, n - c.first);
    Input in;
    in.x = x + c.first * d;
    in.condition = condition_rows(condition, c.first);
    in.first = c.first;
    stage_input(in, c.rows);
    encoder_values.assign(static_cast<size_t>(c.rows), 0.0);
    refined_values.assign(static_cast<size_t>(c.rows), 0.0);
    const auto between_steps = [&] { stop_if_interrupted("vae_refine_posterior", c.first, n, true); };
    refine_rows(c, s, between_steps, mu != nullptr ? mu + c.first * z : nullptr,
                logvar != nullptr ? logvar + c.first * z : nullptr, encoder_values.data(),
                refined_values.data());
    for (const auto& [values, dst] : {std::pair{&encoder_values, elbo_encoder},
                                      std::pair{&refined_values, elbo_refined}}) {
      if (dst == nullptr) continue;
      out.assign(values->begin(), values->end());
      copy_to_caller(dst + c.first, out.data(), out.size());
    }
  }
  ++draws_;
}

}  // namespace vae
