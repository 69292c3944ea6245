// The evaluation calls of the C API (vae_evaluate, vae_log_likelihood and
// their dataset forms): their checks and the loop over a call's chunks
// (src/evaluation.h), the backend doing each chunk.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "error.h"
#include "interrupt_window.h"
#include "trainer.h"

namespace vae {

void Trainer::check_not_in_evaluation(const char* call) const {
  if (in_evaluation_callback_ != nullptr) {
    invalid_argument(std::string(call) + ": called from the progress callback of " +
                     in_evaluation_callback_ +
                     ", which may not change the trainer or draw its noise while the call runs");
  }
}

void Trainer::evaluate(const float* x, int64_t n, float* elbo, float* reconstruction,
                       float* kl, const float* condition) {
  check_not_in_evaluation("vae_evaluate");
  check_pointer(x, "x");
  check_condition(condition, "vae_evaluate");
  check_rows(n, kMaxRows, "n");
  check_outputs({elbo, reconstruction, kl});
  check_pairs(n, config_.samples);
  check_draw_room();
  EvalCall call;
  call.x = x;
  call.condition = condition;
  call.n = n;
  call.k = config_.samples;
  call.mode = EvalMode::kElbo;
  call.out[0] = elbo;
  call.out[1] = reconstruction;
  call.out[2] = kl;
  call.name = "vae_evaluate";
  run_evaluation(call);
}

void Trainer::log_likelihood(const float* x, int64_t n, int32_t k, int estimator,
                             float* log_px, const float* condition) {
  check_not_in_evaluation("vae_log_likelihood");
  check_pointer(x, "x");
  check_condition(condition, "vae_log_likelihood");
  check_rows(n, kMaxRows, "n");
  check_samples(k);
  check_estimator(estimator);
  check_pointer(log_px, "log_px");
  check_pairs(n, k);
  check_draw_room();
  EvalCall call;
  call.x = x;
  call.condition = condition;
  call.n = n;
  call.k = k;
  call.mode = estimator == VAE_ESTIMATOR_PRIOR ? EvalMode::kPrior : EvalMode::kImportance;
  call.out[0] = log_px;
  call.name = "vae_log_likelihood";
  run_evaluation(call);
}

void Trainer::check_pairs(int64_t n, int64_t k) const {
  const double indices = static_cast<double>(n) * static_cast<double>(k) *
                         static_cast<double>(config_.latent_dim);
  if (indices >= 4.6e18) {
    MessageStream m;
    m << "n * k * latent_dim = " << indices << " noise draws: must be below 2^62";
    invalid_argument(m.str());
  }
}

// The chunks of one evaluation call (src/evaluation.h). Its noise is keyed
// by the call's draw counter: the latent noise by the pair, the byte
// transform's by the row, so no chunking changes a number.
void Trainer::run_evaluation(const EvalCall& call) {
  // Every evaluation stops at vae_interrupt before a chunk (vae.h): an
  // array call after writing the results of the rows done, a dataset's
  // writing none.
  const InterruptWindow window(&interrupt_requested_, callback_running() == nullptr);
  run_chunks(call);
  ++draws_;
}

void Trainer::run_chunks(const EvalCall& call) {
  const EvalPlan plan = evaluation_plan(call.n, call.k);
  const int64_t d = config_.input_dim;
  // A dataset's results, and those a sink takes, come to the host chunk by
  // chunk.
  const bool to_host = call.dataset != nullptr || call.sink;
  std::vector<float> host[3];
  float* out[3] = {};
  for (int m = 0; m < 3; ++m) {
    if (call.out[m] == nullptr) continue;
    if (to_host) {
      host[m].resize(static_cast<size_t>(plan.row_capacity));
      out[m] = host[m].data();
    } else {
      out[m] = call.out[m];
    }
  }
  begin_evaluation(plan);
  const NoiseKey noise =
      key(call.mode == EvalMode::kPrior ? NoiseStream::kPrior : NoiseStream::kEvalLatent, draws_);
  const int64_t chunks = plan.chunks();
  for (int64_t index = 0; index < chunks; ++index) {
    const EvalChunk c = eval_chunk(plan, index);
    // A chunk none of whose rows is wanted is not run; its progress point
    // still reports (the same rows again), so the last one reports them all.
    const bool wanted =
        call.active == nullptr ||
        std::any_of(call.active->begin() + c.first_pair_row,
                    call.active->begin() + c.last_pair_row + 1, [](char a) { return a != 0; });
    if (wanted) {
      stop_if_interrupted(call.name, c.first_pair_row, call.n, !to_host);
      Input in;
      in.first = c.first_row;
      if (call.dataset != nullptr) {
        in.dataset = call.dataset;
        in.bytes = key(NoiseStream::kEvalBytes, draws_, c.first_row * d);
      } else {
        in.x = call.x + c.first_row * d;
        in.condition = condition_rows(call.condition, c.first_row);
      }
      evaluate_chunk(in, c, call.mode, noise, out, to_host ? c.first_pair_row : 0);
      if (!to_host) continue;
      const int64_t done = c.done_end() - c.first_pair_row;
      if (call.sink) {
        call.sink(c.first_pair_row, done, out);
      } else {
        for (int m = 0; m < 3; ++m) {
          for (int64_t i = 0; i < done && out[m] != nullptr; ++i) call.sums[m] += out[m][i];
        }
      }
    }
    if (call.dataset != nullptr && progress_ != nullptr && progress_due(index + 1, chunks)) {
      int64_t rows = c.done_end();
      double sum = call.sums != nullptr ? call.sums[0] : 0.0;
      if (call.progress_rows) rows = call.progress_rows(&sum);
      const double mean =
          rows > 0 ? sum / static_cast<double>(rows) - discrete_offset(*call.dataset) : 0.0;
      in_evaluation_callback_ = call.name;
      progress_(progress_user_data_, rows, call.n, mean);
      in_evaluation_callback_ = nullptr;
    }
  }
}

double Trainer::discrete_offset(const Dataset& ds) const {
  // log P(y) >= E_u log p((y + u) / 256) - D log 256 (DESIGN.md section 1).
  return ds.bytes && ds.transform == ByteTransform::kDequantize
             ? static_cast<double>(ds.dim) * std::log(256.0)
             : 0.0;
}

void Trainer::evaluate_dataset(const Dataset& ds, double* elbo, double* reconstruction,
                               double* kl) {
  check_not_in_evaluation("vae_evaluate_dataset");
  check_dataset(ds);
  check_pairs(ds.rows, config_.samples);
  check_draw_room();
  double sums[3] = {0, 0, 0};
  float all = 0;
  EvalCall call;
  call.dataset = &ds;
  call.n = ds.rows;
  call.k = config_.samples;
  call.mode = EvalMode::kElbo;
  for (float*& out : call.out) out = &all;  // not null: all three results are summed
  call.sums = sums;
  call.name = "vae_evaluate_dataset";
  run_evaluation(call);
  const double rows = static_cast<double>(ds.rows);
  const double offset = discrete_offset(ds);
  if (elbo != nullptr) *elbo = sums[0] / rows - offset;
  if (reconstruction != nullptr) *reconstruction = sums[1] / rows - offset;
  if (kl != nullptr) *kl = sums[2] / rows;
}

void Trainer::log_likelihood_dataset(const Dataset& ds, int32_t k, int estimator, double* mean) {
  check_not_in_evaluation("vae_log_likelihood_dataset");
  check_dataset(ds);
  check_samples(k);
  check_estimator(estimator);
  if (mean == nullptr) invalid_argument("mean: NULL");
  check_pairs(ds.rows, k);
  check_draw_room();
  double sum = 0;
  float summed = 0;
  EvalCall call;
  call.dataset = &ds;
  call.n = ds.rows;
  call.k = k;
  call.mode = estimator == VAE_ESTIMATOR_PRIOR ? EvalMode::kPrior : EvalMode::kImportance;
  call.out[0] = &summed;  // not null: the estimates are summed
  call.sums = &sum;
  call.name = "vae_log_likelihood_dataset";
  run_evaluation(call);
  *mean = sum / static_cast<double>(ds.rows) - discrete_offset(ds);
}

}  // namespace vae
