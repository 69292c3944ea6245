#include "log_likelihood_report.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "progress.h"
#include "task_bar.h"
#include "stop_signals.h"
#include "trainer_setup.h"

namespace vae_app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

bool report_log_likelihood(const Options& options, vae_trainer* trainer, const DataMatrix& test,
                           vae_dataset* test_set, int transform, LogLikelihoodFigures* figures) {
  const std::int64_t rows = std::min(options.ll_rows.value_or(test.rows), test.rows);
  DatasetHandle subset;
  if (rows < test.rows) subset = make_dataset(trainer, test, transform, rows);
  std::printf("estimating the test log-likelihood (importance sampling, K=%lld, %lld rows)...\n",
              static_cast<long long>(options.ll_samples), static_cast<long long>(rows));
  std::fflush(stdout);
  const auto start = Clock::now();
  vae_likelihood_options estimate;
  check(vae_likelihood_options_init(&estimate), "vae_likelihood_options_init");
  estimate.k = static_cast<std::int32_t>(options.ll_samples);
  estimate.estimator = VAE_ESTIMATOR_IMPORTANCE;
  vae_likelihood_summary summary{};
  summary.size = sizeof summary;
  {
    TaskProgress progress(isatty(STDOUT_FILENO) != 0, "log-likelihood");
    TaskBar bar{&progress, start, trainer};
    check(vae_set_progress(trainer, &TaskBar::update, &bar), "vae_set_progress");
    vae_status status = VAE_OK;
    {
      const InterruptTarget target(trainer);
      status = vae_log_likelihood_stats_dataset(trainer, subset ? subset.get() : test_set,
                                                &estimate, &summary);
    }
    check(vae_set_progress(trainer, nullptr, nullptr), "vae_set_progress");
    if (status == VAE_ERROR_INTERRUPTED && StopSignals::received() != 0) return false;
    check(status, "vae_log_likelihood_stats_dataset");
  }
  std::printf("test log-likelihood: %.2f nats (%.1f s)\n", summary.mean_log_px,
              seconds_since(start));
  std::printf("  standard error %.3f nats, mean effective sample size %.1f of K=%lld\n",
              summary.std_error, summary.mean_ess, static_cast<long long>(options.ll_samples));
  if (test.type == ElementType::uint8 && transform == VAE_BYTES_DEQUANTIZE) {
    std::printf("bits per dimension: %.4f\n",
                -summary.mean_log_px / (static_cast<double>(test.dim) * std::log(2.0)));
  }
  *figures = LogLikelihoodFigures{summary.mean_log_px, summary.std_error, summary.mean_ess, rows,
                                  options.ll_samples};
  return true;
}

}  // namespace vae_app
