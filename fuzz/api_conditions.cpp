// The calls of a conditional model (vae.h, "rows with conditions"): each
// _rows call with a vae_rows of any size, row count, data and conditions
// (one-hot rows, floats that may not be finite, or none), and a dataset's
// conditions and labels (any n, labels of any class, another trainer's
// dataset or trainer). Besides ApiSession::check's contract, each call must
// refuse what vae.h says it refuses: a conditional model's rows without
// conditions, an unconditional model's with them, a condition value that
// is not finite. On a model without conditions vae_encode_rows and
// vae_decode_rows must answer as their namesakes do, bit for bit.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "api_session.h"

namespace vae_fuzz {
namespace {

// Where n rows of `width` columns first hold a value that is not finite, as
// text ("" if nowhere).
std::string first_not_finite(const float* values, int64_t n, int64_t width) {
  for (int64_t e = 0; e < n * width; ++e) {
    if (!std::isfinite(values[e])) return "row " + std::to_string(e / width) + " not finite";
  }
  return "";
}

// A call that vae.h has refuse its arguments (`why`, "" where it need not).
void require_refused(vae_status status, const std::string& why, const char* call) {
  require(why.empty() || status != VAE_OK, std::string(call) + " accepted " + why);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b, std::size_t count) {
  return std::memcmp(a.data(), b.data(), count * sizeof(float)) == 0;
}

}  // namespace

// Room for `limit` rows: data of `width` columns (none when 0), and a
// condition per row of C columns (one for a model without conditions, which
// must refuse any): one-hot rows of class labels, floats of any kind (a
// special value included), or none.
ApiSession::RowsArgument ApiSession::rows_argument(int64_t limit, int64_t width) {
  RowsArgument a;
  a.width = width;
  a.rows.size = program_.one_in(8) ? program_.choice(64) : sizeof(vae_rows);
  a.rows.n = program_.rows(limit);
  if (width > 0) a.data = floats(limit, width);
  const int64_t columns = std::max<int64_t>(condition_dim_, 1);
  switch (program_.choice(3)) {
    case 0: {
      const std::vector<std::uint8_t> labels = program_.bytes(static_cast<std::size_t>(limit));
      a.condition.assign(static_cast<std::size_t>(limit * columns), 0.0f);
      for (std::size_t i = 0; i < labels.size(); ++i) {
        a.condition[i * static_cast<std::size_t>(columns) + labels[i] % columns] = 1.0f;
      }
      break;
    }
    case 1: a.condition = floats(limit, columns); break;
    default: break;
  }
  return a;
}

// The rows to pass: NULL where the null mask has bit 0; their data NULL
// where it has bit 1.
const vae_rows* ApiSession::rows_with_nulls(RowsArgument& a, unsigned nulls) const {
  a.rows.data = a.data.empty() || (nulls & 2u) != 0 ? nullptr : a.data.data();
  a.rows.condition = a.condition.empty() ? nullptr : a.condition.data();
  return unless(nulls, 0, &a.rows);
}

// Why every _rows call must refuse `rows` ("" where it need not): n within
// 1..max_n, data as the call takes it, conditions as the model takes them,
// and (values_checked: the call waits for its check) finite.
std::string ApiSession::rows_refusal(const vae_rows* rows, int64_t width, int64_t max_n,
                                     bool values_checked) const {
  if (rows == nullptr) return "rows NULL";
  if (rows->size != sizeof(vae_rows)) return "rows->size " + std::to_string(rows->size);
  if (rows->n < 1 || rows->n > max_n) return "n " + std::to_string(rows->n);
  if (width > 0 && rows->data == nullptr) return "data NULL";
  if (width == 0 && rows->data != nullptr) return "data for vae_sample_rows";
  if (condition_dim_ == 0) return rows->condition != nullptr ? "a condition on a model without" : "";
  if (rows->condition == nullptr) return "no condition on a conditional model";
  return values_checked ? first_not_finite(rows->condition, rows->n, condition_dim_) : "";
}

ApiSession::Outcome ApiSession::train_step_rows() {
  Outcome o;
  o.effect = Effect::kStep;
  RowsArgument a = rows_argument(max_batch_ + 1, dim_);
  const unsigned nulls = program_.null_mask();
  float loss = std::numeric_limits<float>::quiet_NaN();
  float* out = unless(nulls, 2, &loss);
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_train_step_rows(t_, rows, out);
  // A step without a loss pointer checks its values where it runs, and
  // reports a refusal later (vae.h, vae_train_step).
  require_refused(o.status, rows_refusal(rows, a.width, max_batch_, out != nullptr),
                  "vae_train_step_rows");
  if (o.status == VAE_OK && out != nullptr) {
    require(std::isfinite(loss), "vae_train_step_rows returned VAE_OK with a non-finite loss");
  }
  return o;
}

ApiSession::Outcome ApiSession::evaluate_rows() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, dim_);
  const unsigned nulls = program_.null_mask();
  std::vector<float> elbo(limit), reconstruction(limit), kl(limit);
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_evaluate_rows(t_, rows, unless(nulls, 2, elbo.data()),
                               unless(nulls, 3, reconstruction.data()), unless(nulls, 4, kl.data()));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true), "vae_evaluate_rows");
  return o;
}

ApiSession::Outcome ApiSession::log_likelihood_rows() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, dim_);
  const int32_t k = pick_k();
  const int estimator = static_cast<int>(program_.choice(4)) - 1;
  const unsigned nulls = program_.null_mask();
  std::vector<float> log_px(limit);
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_log_likelihood_rows(t_, rows, k, estimator, unless(nulls, 2, log_px.data()));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true), "vae_log_likelihood_rows");
  return o;
}

ApiSession::Outcome ApiSession::log_likelihood_stats_rows() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, dim_);
  const vae_likelihood_options options = likelihood_options();
  const unsigned nulls = program_.null_mask();
  std::vector<float> log_px(limit), std_error(limit), ess(limit);
  std::vector<int32_t> k_used(limit);
  const vae_likelihood_rows out{program_.one_in(8) ? program_.choice(64) : sizeof out,
                                unless(nulls, 4, log_px.data()), std_error.data(),
                                program_.one_in(2) ? nullptr : ess.data(),
                                unless(nulls, 5, k_used.data())};
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_log_likelihood_stats_rows(t_, rows, unless(nulls, 2, &options),
                                           unless(nulls, 3, &out));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true),
                  "vae_log_likelihood_stats_rows");
  return o;
}

ApiSession::Outcome ApiSession::encode_rows() {
  Outcome o;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, dim_);
  const unsigned nulls = program_.null_mask();
  const auto outputs = [&] { return std::vector<float>(static_cast<std::size_t>(limit * latent_)); };
  std::vector<float> mu = outputs(), logvar = outputs();
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_encode_rows(t_, rows, unless(nulls, 2, mu.data()), unless(nulls, 3, logvar.data()));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true), "vae_encode_rows");
  if (o.status == VAE_OK && condition_dim_ == 0) {
    std::vector<float> mu0 = outputs(), logvar0 = outputs();
    require(vae_encode(t_, rows->data, rows->n, unless(nulls, 2, mu0.data()),
                       unless(nulls, 3, logvar0.data())) == VAE_OK,
            std::string("vae_encode refused the rows vae_encode_rows took: ") + vae_last_error());
    const auto count = static_cast<std::size_t>(rows->n * latent_);
    require(same_bits(mu, mu0, count) && same_bits(logvar, logvar0, count),
            "vae_encode_rows without conditions answered other than vae_encode");
  }
  return o;
}

ApiSession::Outcome ApiSession::decode_rows() {
  Outcome o;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, latent_);
  const unsigned nulls = program_.null_mask();
  std::vector<float> mean(static_cast<std::size_t>(limit * dim_));
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_decode_rows(t_, rows, unless(nulls, 2, mean.data()));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true), "vae_decode_rows");
  if (o.status == VAE_OK && condition_dim_ == 0) {
    std::vector<float> mean0(mean.size());
    require(vae_decode(t_, rows->data, rows->n, mean0.data()) == VAE_OK,
            std::string("vae_decode refused the rows vae_decode_rows took: ") + vae_last_error());
    require(same_bits(mean, mean0, static_cast<std::size_t>(rows->n * dim_)),
            "vae_decode_rows without conditions answered other than vae_decode");
  }
  return o;
}

ApiSession::Outcome ApiSession::sample_rows() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, 0);
  if (program_.one_in(4)) a.data.assign(static_cast<std::size_t>(limit * dim_), 0.5f);  // refused
  const unsigned nulls = program_.null_mask();
  std::vector<float> mean(static_cast<std::size_t>(limit * dim_));
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_sample_rows(t_, rows, unless(nulls, 2, mean.data()));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true), "vae_sample_rows");
  return o;
}

ApiSession::Outcome ApiSession::refine_posterior_rows() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  RowsArgument a = rows_argument(limit, dim_);
  const vae_refine_options options = refine_options();
  const unsigned nulls = program_.null_mask();
  std::vector<float> mu(static_cast<std::size_t>(limit * latent_)), logvar(mu.size()),
      before(limit), after(limit);
  const vae_refine_rows out{program_.one_in(8) ? program_.choice(64) : sizeof out,
                            unless(nulls, 4, mu.data()), unless(nulls, 5, logvar.data()),
                            program_.one_in(2) ? nullptr : before.data(),
                            unless(nulls, 6, after.data())};
  const vae_rows* rows = rows_with_nulls(a, nulls);
  o.status = vae_refine_posterior_rows(t_, rows, unless(nulls, 2, &options), unless(nulls, 3, &out));
  require_refused(o.status, rows_refusal(rows, a.width, limit, true), "vae_refine_posterior_rows");
  return o;
}

// A dataset's conditions (floats of any kind) or labels (below C, of any
// byte, or one of them C), n rows of them for a dataset of `rows`: its
// size, one off, or not a size. The call may name the other trainer, whose
// datasets are refused by this one and this one's by it. A refusal leaves
// the dataset as it was: a conditional model takes it only once a call set
// its conditions (ApiSession::check).
ApiSession::Outcome ApiSession::set_dataset_conditions(bool labels) {
  Outcome o;
  Dataset* d = pick_dataset();
  const int64_t rows = d != nullptr ? d->rows : 1;
  const int64_t ns[] = {rows, rows, rows, rows - 1, rows + 1, 0, -1,
                        std::numeric_limits<int64_t>::min()};
  const int64_t n = ns[program_.choice(std::size(ns))];
  const bool other = program_.one_in(4);  // read whether or not there is another trainer
  vae_trainer* t = other && other_ != nullptr ? other_ : t_;
  const int64_t columns = std::max<int64_t>(condition_dim_, 1);
  std::vector<float> values;
  std::vector<std::uint8_t> classes;
  if (labels) {
    classes = program_.bytes(static_cast<std::size_t>(rows));
    const std::size_t kind = program_.choice(3);
    const std::size_t at = program_.byte() % classes.size();
    for (std::uint8_t& c : classes) {
      if (kind != 1) c = static_cast<std::uint8_t>(c % columns);
    }
    if (kind == 2) classes[at] = static_cast<std::uint8_t>(condition_dim_);
  } else {
    values = floats(rows, columns);
  }
  const unsigned nulls = program_.null_mask();
  vae_trainer* trainer = unless(nulls, 1, t);
  vae_dataset* ds = d != nullptr ? d->handle : nullptr;
  std::string why;
  if (trainer == nullptr || d == nullptr || d->owner != t) why = "a dataset not of the trainer";
  else if (condition_dim_ == 0) why = "conditions for a model without";
  else if ((nulls & 1u) != 0) why = "NULL values";
  else if (n != d->rows) why = "n " + std::to_string(n) + " for " + std::to_string(d->rows) + " rows";
  else if (!labels) why = first_not_finite(values.data(), n, condition_dim_);
  else if (*std::max_element(classes.begin(), classes.end()) >= condition_dim_) why = "a label >= C";
  if (labels) {
    o.status = vae_dataset_set_labels(trainer, ds, unless(nulls, 0, classes.data()), n);
    require_refused(o.status, why, "vae_dataset_set_labels");
  } else {
    o.status = vae_dataset_set_conditions(trainer, ds, unless(nulls, 0, values.data()), n);
    require_refused(o.status, why, "vae_dataset_set_conditions");
  }
  if (o.status == VAE_OK) d->conditioned = true;
  return o;
}

}  // namespace vae_fuzz
