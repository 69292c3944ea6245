// vae_log_likelihood_stats and its dataset form (vae.h): per row log p^, its
// standard error and the ESS, for a fixed K or in rounds of adaptive K. Each
// round is a fixed-K evaluation call's chunks (src/evaluation.h) under the
// call's one draw counter, so a round with K samples computes exactly what
// vae_log_likelihood with k = K computes; the backends' accumulators give
// the error bars in the same pass (weight_statistics, src/model_math.h).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "error.h"
#include "interrupt_window.h"
#include "trainer.h"

namespace vae {

void Trainer::check_likelihood_options(const vae_likelihood_options* o, const char* name) const {
  if (o == nullptr) invalid_argument(std::string(name) + ": options: NULL");
  if (o->size != sizeof(vae_likelihood_options)) {
    MessageStream m;
    m << "options.size: must be sizeof(vae_likelihood_options) = " << sizeof(vae_likelihood_options)
      << " (vae_likelihood_options_init sets it), got " << o->size;
    invalid_argument(m.str());
  }
  check_samples(o->k);
  check_estimator(o->estimator);
  if (o->adaptive != 0 && o->adaptive != 1) {
    MessageStream m;
    m << "options.adaptive: must be 0 (fixed K) or 1 (adaptive K), got " << o->adaptive;
    invalid_argument(m.str());
  }
  if (o->adaptive == 0) return;
  if (o->k_max < o->k) {
    MessageStream m;
    m << "options.k_max: must be at least options.k (" << o->k << ") for adaptive K, got "
      << o->k_max;
    invalid_argument(m.str());
  }
  if (!(std::isfinite(o->target_std_error) && o->target_std_error > 0)) {
    MessageStream m;
    m << "options.target_std_error: must be finite and > 0 for adaptive K, got "
      << o->target_std_error;
    invalid_argument(m.str());
  }
}

// Rounds of K = k, 2k, 4k, ..., the last k_max (one round of k for fixed K).
// A round runs the chunks that hold a row still going; a row stops at the
// round whose standard error meets the target, or at the last round.
void Trainer::likelihood_rounds(const float* x, const float* condition, const Dataset* ds,
                                int64_t n,
                                const vae_likelihood_options& o, const char* name,
                                const std::function<void(int64_t row, const RowStats& s)>& sink,
                                const std::function<int64_t(double* sum)>& progress_rows) {
  const int64_t k_last = o.adaptive != 0 ? o.k_max : o.k;
  std::vector<char> going(static_cast<size_t>(n), 1);
  float unused = 0;  // the results go to the sink, through host buffers
  EvalCall call;
  call.x = x;
  call.condition = condition;
  call.dataset = ds;
  call.n = n;
  call.mode = o.estimator == VAE_ESTIMATOR_PRIOR ? EvalMode::kPrior : EvalMode::kImportance;
  for (float*& out : call.out) out = &unused;
  call.name = name;
  call.active = &going;
  call.progress_rows = progress_rows;
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  for (int64_t k = o.k;; k = std::min(2 * k, k_last)) {
    const bool last = k >= k_last;
    call.k = k;
    call.sink = [&](int64_t first, int64_t count, const float* const results[3]) {
      for (int64_t i = 0; i < count; ++i) {
        const auto row = static_cast<size_t>(first + i);
        if (going[row] == 0) continue;
        const RowStats s{results[0][i], results[1][i], results[2][i], static_cast<int32_t>(k)};
        if (last || s.std_error <= o.target_std_error) {
          going[row] = 0;
          sink(first + i, s);
        }
      }
    };
    run_chunks(call);
    if (last) break;
  }
  ++draws_;
}

void Trainer::log_likelihood_stats(const float* x, int64_t n, const vae_likelihood_options* options,
                                   const vae_likelihood_rows* out, const float* condition) {
  const char* name = "vae_log_likelihood_stats";
  check_not_in_evaluation(name);
  check_pointer(x, "x");
  check_condition(condition, name);
  check_rows(n, kMaxRows, "n");
  check_likelihood_options(options, name);
  if (out == nullptr) invalid_argument("out: NULL");
  if (out->size != sizeof(vae_likelihood_rows)) {
    MessageStream m;
    m << "out.size: must be sizeof(vae_likelihood_rows) = " << sizeof(vae_likelihood_rows)
      << ", got " << out->size;
    invalid_argument(m.str());
  }
  if (out->log_px == nullptr && out->std_error == nullptr && out->ess == nullptr &&
      out->k_used == nullptr) {
    invalid_argument("out: log_px, std_error, ess and k_used are all NULL");
  }
  check_outputs({out->log_px, out->std_error, out->ess, out->k_used});
  const vae_likelihood_options& o = *options;
  check_pairs(n, o.adaptive != 0 ? o.k_max : o.k);
  check_draw_room();
  // The rows' results, written to the caller once every row is done.
  const auto rows = static_cast<size_t>(n);
  std::vector<float> values[3];
  float* const outputs[3] = {out->log_px, out->std_error, out->ess};
  for (int m = 0; m < 3; ++m) {
    if (outputs[m] != nullptr) values[m].resize(rows);
  }
  std::vector<int32_t> k_used(out->k_used != nullptr ? rows : 0);
  likelihood_rounds(x, condition, nullptr, n, o, name, [&](int64_t row, const RowStats& s) {
    const auto r = static_cast<size_t>(row);
    const float v[3] = {s.log_px, s.std_error, s.ess};
    for (int m = 0; m < 3; ++m) {
      if (!values[m].empty()) values[m][r] = v[m];
    }
    if (!k_used.empty()) k_used[r] = s.k;
  }, nullptr);
  for (int m = 0; m < 3; ++m) {
    if (outputs[m] != nullptr) copy_to_caller(outputs[m], values[m].data(), rows);
  }
  if (out->k_used != nullptr) {
    // copy_to_caller copies bytes (memcpy, cudaMemcpy): int32 as 4-byte words.
    static_assert(sizeof(int32_t) == sizeof(float), "k_used travels as 4-byte words");
    copy_to_caller(reinterpret_cast<float*>(out->k_used),
                   reinterpret_cast<const float*>(k_used.data()), rows);
  }
}

void Trainer::log_likelihood_stats_dataset(const Dataset& ds, const vae_likelihood_options* options,
                                           vae_likelihood_summary* out) {
  const char* name = "vae_log_likelihood_stats_dataset";
  check_not_in_evaluation(name);
  check_dataset(ds);
  check_likelihood_options(options, name);
  if (out == nullptr) invalid_argument("out: NULL");
  if (out->size != sizeof(vae_likelihood_summary)) {
    MessageStream m;
    m << "out.size: must be sizeof(vae_likelihood_summary) = " << sizeof(vae_likelihood_summary)
      << ", got " << out->size;
    invalid_argument(m.str());
  }
  const vae_likelihood_options& o = *options;
  check_pairs(ds.rows, o.adaptive != 0 ? o.k_max : o.k);
  check_draw_room();
  int64_t done = 0;
  double log_px = 0, variance = 0, ess = 0, k = 0;
  likelihood_rounds(nullptr, nullptr, &ds, ds.rows, o, name, [&](int64_t, const RowStats& s) {
    ++done;
    log_px += s.log_px;
    variance += static_cast<double>(s.std_error) * s.std_error;
    ess += s.ess;
    k += s.k;
  }, [&](double* sum) {
    *sum = log_px;
    return done;
  });
  const double rows = static_cast<double>(ds.rows);
  out->mean_log_px = log_px / rows - discrete_offset(ds);
  out->std_error = std::sqrt(variance) / rows;
  out->mean_ess = ess / rows;
  out->mean_k_used = k / rows;
}

}  // namespace vae
