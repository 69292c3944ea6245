// The CPU backend's primitives of a conditional model (kernels/condition.h):
// the joined inputs of the first layers, the gradient's latent columns, and
// a dataset's conditions.
#include <algorithm>

#include "cpu/condition_loops.h"
#include "cpu/cpu_ops.h"
#include "cpu/host_dataset.h"

namespace vae {

template <class T>
void CpuOps<T>::join_condition(const T* left, int64_t left_width, const T* cond,
                               int64_t cond_width, const ConditionRows& m, int64_t rows,
                               T* out) const {
  pool_.run(rows, [&](int64_t begin, int64_t end) {
    join_condition_rows(left, left_width, cond, cond_width, m, begin, end, out);
  }, 256);
}

template <class T>
void CpuOps<T>::copy_columns(const T* src, int64_t src_width, int64_t rows, int64_t cols,
                             T* dst) const {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(src + r * src_width, cols, dst + r * cols);
}

// The rows gather_rows takes: rows first.. of ds, or of this epoch's order
// from its position on.
template <class T>
void CpuOps<T>::gather_conditions(const Dataset& ds, int64_t first, int64_t n,
                                  const StepState* epoch, T* cond) const {
  if (epoch != nullptr) first += epoch->cursor;
  const auto row_of = [&](int64_t i) { return epoch != nullptr ? ds.order[first + i] : first + i; };
  pool_.run(n, [&](int64_t begin, int64_t end) {
    gather_condition_rows(ds, row_of, begin, end, cond);
  }, 256);
}

// The new rows are made in full before the dataset points at them, so a
// failure to allocate leaves it as it was.
template <class T>
void CpuOps<T>::set_dataset_conditions(Dataset& ds, const float* floats, const uint8_t* labels,
                                       int64_t width) const {
  auto& host = static_cast<HostDataset&>(ds);
  std::vector<float> condition_rows;
  std::vector<uint8_t> label_rows;
  if (floats != nullptr) {
    condition_rows.assign(floats, floats + ds.rows * width);
  } else {
    label_rows.assign(labels, labels + ds.rows);
  }
  host.condition_rows.swap(condition_rows);
  host.label_rows.swap(label_rows);
  host.conditions = floats != nullptr ? host.condition_rows.data() : nullptr;
  host.labels = labels != nullptr ? host.label_rows.data() : nullptr;
  host.condition_dim = width;
}

// The members defined here (the others are instantiated in cpu_ops.cpp).
#define VAE_CPU_CONDITION_MEMBERS(T)                                                           \
  template void CpuOps<T>::join_condition(const T*, int64_t, const T*, int64_t,                \
                                          const ConditionRows&, int64_t, T*) const;           \
  template void CpuOps<T>::copy_columns(const T*, int64_t, int64_t, int64_t, T*) const;        \
  template void CpuOps<T>::gather_conditions(const Dataset&, int64_t, int64_t,                 \
                                             const StepState*, T*) const;                      \
  template void CpuOps<T>::set_dataset_conditions(Dataset&, const float*, const uint8_t*,      \
                                                  int64_t) const;
VAE_CPU_CONDITION_MEMBERS(float)
VAE_CPU_CONDITION_MEMBERS(double)
#undef VAE_CPU_CONDITION_MEMBERS

}  // namespace vae
