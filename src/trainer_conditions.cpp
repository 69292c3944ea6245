// The conditions of a conditional model (vae.h, VAE_OPT_CONDITION_DIM):
// the checks that a call has them when the model needs them, and a
// dataset's conditions (vae_dataset_set_conditions, vae_dataset_set_labels),
// checked on the host before the backend keeps them.
#include <string>
#include <vector>

#include "caller_rows.h"
#include "device_pointer.h"
#include "error.h"
#include "trainer.h"

namespace vae {
namespace {

std::string n_message(int64_t rows, int64_t got) {
  MessageStream m;
  m << "n: must be the dataset's " << rows << " rows, got " << got;
  return m.str();
}

}  // namespace

void Trainer::check_condition(const float* condition, const char* call) const {
  if (!config_.conditional()) {
    if (condition != nullptr) {
      invalid_argument("condition: the model takes none (VAE_OPT_CONDITION_DIM is 0); pass NULL");
    }
    return;
  }
  if (condition == nullptr) {
    MessageStream m;
    m << call << ": the model is conditional (VAE_OPT_CONDITION_DIM = " << config_.condition_dim
      << "): every row needs its condition, vae_rows.condition of " << call << "_rows";
    invalid_argument(m.str());
  }
  check_pointer(condition, "condition");
}

void Trainer::check_dataset_conditions(const Dataset& ds, const void* values, int64_t n,
                                       const char* name) const {
  if (ds.owner != this) {
    invalid_argument("ds: the dataset belongs to another trainer; create it with this one");
  }
  if (!config_.conditional()) {
    invalid_argument(std::string(name) +
                     ": the model takes no conditions (VAE_OPT_CONDITION_DIM is 0)");
  }
  if (values == nullptr) invalid_argument(std::string(name) + ": NULL");
  if (n != ds.rows) invalid_argument(n_message(ds.rows, n));
}

void Trainer::set_dataset_conditions(Dataset& ds, const float* condition, int64_t n) {
  check_not_in_evaluation("vae_dataset_set_conditions");
  check_not_in_epoch("vae_dataset_set_conditions");
  check_dataset_conditions(ds, condition, n, "condition");
  check_pointer(condition, "condition");
  CallerRows rows;
  rows.name = "condition";
  rows.values = condition;
  rows.rows = n;
  rows.dim = config_.condition_dim;
  std::vector<float> host(static_cast<size_t>(rows.count()));
  copy_from_caller(host.data(), condition, host.size());
  rows.values = host.data();
  for (int64_t e = 0; e < rows.count(); ++e) {
    if (!input_value_ok(host[static_cast<size_t>(e)], false)) {
      refuse_caller_value(rows, e, host[static_cast<size_t>(e)]);
    }
  }
  set_conditions(ds, host.data(), nullptr);
}

void Trainer::set_dataset_labels(Dataset& ds, const uint8_t* labels, int64_t n) {
  check_not_in_evaluation("vae_dataset_set_labels");
  check_not_in_epoch("vae_dataset_set_labels");
  check_dataset_conditions(ds, labels, n, "labels");
  if (pointer_is_device(labels)) {
    invalid_argument("labels: device memory; the labels are read from host memory");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] >= config_.condition_dim) {
      MessageStream m;
      m << "labels: row " << i << " has label " << int{labels[i]}
        << ", not below VAE_OPT_CONDITION_DIM = " << config_.condition_dim
        << " (the classes of the one-hot conditions)";
      invalid_argument(m.str());
    }
  }
  set_conditions(ds, nullptr, labels);
}

}  // namespace vae
