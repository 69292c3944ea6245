// The conditions of a conditional model (vae.h, VAE_OPT_CONDITION_DIM): a
// call's rows with theirs as the _rows calls take them (vae_rows), and a
// dataset's, checked against the model before the library reads them so
// that a refusal names the Python argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <vae/vae.h>

#include "arrays.h"
#include "trainer_handle.h"

namespace libvae_ext {

namespace nb = nanobind;

using OptionalFloats = std::optional<Floats>;

class Conditions {
 public:
  Conditions(int64_t dim, Backend backend) : dim_(dim), backend_(backend) {}

  // C, which the model fixes: 0 for a model without conditions.
  int64_t dim() const { return dim_; }

  // The n rows at data (or none: vae_sample_rows) with `condition`'s rows,
  // (n, C) floats: given for a conditional model, and for it alone.
  // `rows_name` names what the conditions go with in the messages ("x").
  vae_rows rows(const float* data, int64_t n, const OptionalFloats& condition,
                const std::string& rows_name) const {
    vae_rows r{sizeof r, n, data, nullptr};
    if (!given(condition)) return r;
    backend_.check(*condition, "condition");
    const int64_t count = rows_of(*condition, "condition", dim_);
    if (count != n) {
      invalid_argument("condition: " + std::to_string(count) + " rows for the " +
                       std::to_string(n) + " rows of " + rows_name + "; give one condition a row");
    }
    r.condition = condition->data();
    return r;
  }

  // A dataset's conditions: `rows` rows of C floats.
  void check_dataset_conditions(const Floats& condition, int64_t rows) const {
    require_conditional();
    backend_.check(condition, "condition");
    if (rows_of(condition, "condition", dim_) != rows) {
      invalid_argument("condition: expected one row for each of the dataset's " +
                       std::to_string(rows) + " rows, got shape " + shape_of(condition));
    }
  }

  // A dataset's class labels: `rows` bytes in host memory, the library's
  // to check against C (vae_dataset_set_labels names the row).
  void check_dataset_labels(const Bytes& labels, int64_t rows) const {
    require_conditional();
    const int32_t type = labels.device_type();
    if (type != nb::device::cpu::value && type != nb::device::cuda_host::value) {
      invalid_argument("labels: an array in " + device_type_name(type) +
                       " memory; labels are read from host memory");
    }
    if (labels.ndim() != 1 || static_cast<int64_t>(labels.shape(0)) != rows) {
      invalid_argument("labels: expected one label for each of the dataset's " +
                       std::to_string(rows) + " rows, shape (" + std::to_string(rows) +
                       ",), got shape " + shape_of(labels));
    }
  }

 private:
  // Whether a call gives its rows' conditions, refusing a call whose model
  // needs them and gets none, or takes none and gets some.
  bool given(const OptionalFloats& condition) const {
    if (condition) {
      require_conditional();
      return true;
    }
    if (dim_ > 0) {
      invalid_argument("condition: the model is conditional (condition_dim = " +
                       std::to_string(dim_) + "): give each row's condition");
    }
    return false;
  }

  void require_conditional() const {
    if (dim_ == 0) {
      invalid_argument("condition: the model takes no conditions (condition_dim is 0)");
    }
  }

  int64_t dim_;
  Backend backend_;  // the memory its arrays may be in
};

}  // namespace libvae_ext
