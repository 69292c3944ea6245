// What the conditional model's suites share (test_conditional.cpp on the
// CPU, test_cuda_conditional.cpp on the CUDA backend): the model, one-hot
// and random conditions, and an unconditional model's parameters widened
// by the condition's columns.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "parameter_layout.h"
#include "test_support.h"

namespace vae::testing {

constexpr int64_t kClasses = 4;

inline Config conditional_config(int64_t condition_dim = kClasses) {
  Config c = small_config(12, 3, {7, 5}, 6);
  c.condition_dim = condition_dim;
  return c;
}

// Row i's one-hot condition of class labels[i], of `classes` columns.
inline std::vector<float> one_hot(const std::vector<uint8_t>& labels, int64_t classes) {
  std::vector<float> c(labels.size() * static_cast<size_t>(classes), 0.0f);
  for (size_t i = 0; i < labels.size(); ++i) {
    c[i * static_cast<size_t>(classes) + labels[i]] = 1.0f;
  }
  return c;
}

// n class labels below `classes`, from a fixed seed, every class present
// when n allows.
inline std::vector<uint8_t> labels_of(int64_t n, int64_t classes, uint32_t seed) {
  std::vector<uint8_t> labels(static_cast<size_t>(n));
  const auto u = uniform(labels.size(), seed);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = static_cast<uint8_t>(i < static_cast<size_t>(classes)
                                         ? i
                                         : static_cast<size_t>(u[i] * static_cast<float>(classes)));
  }
  return labels;
}

// The conditional model's packed parameters that compute what `plain`, the
// packed parameters of the model without conditions, computes when every
// condition is zero: each tensor copied, and the first layers' weights
// (encoder.0 [H, D] -> [H, D + C], decoder.0 [H, Z] -> [H, Z + C]) given C
// more columns of `extra` values after each row's own, which a zero
// condition multiplies away.
template <class T>
std::vector<T> widened_parameters(const Config& conditional, const std::vector<T>& plain,
                                  float extra_lo, float extra_hi, uint32_t seed) {
  Config unconditional = conditional;
  unconditional.condition_dim = 0;
  std::map<std::string, NamedTensor> from;
  for (const NamedTensor& t : ParameterLayout(unconditional).tensors()) from[t.name] = t;
  const ParameterLayout to(conditional);
  std::vector<T> wide(to.packed_total);
  const auto extra = uniform(wide.size(), seed, extra_lo, extra_hi);
  for (const NamedTensor& t : to.tensors()) {
    const NamedTensor& f = from.at(t.name);
    if (f.count == t.count) {
      std::copy_n(plain.begin() + static_cast<std::ptrdiff_t>(f.packed_offset), f.count,
                  wide.begin() + static_cast<std::ptrdiff_t>(t.packed_offset));
      continue;
    }
    const int64_t rows = t.shape[0], in = f.shape[1], wide_in = t.shape[1];
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t col = 0; col < wide_in; ++col) {
        const size_t at = t.packed_offset + static_cast<size_t>(r * wide_in + col);
        wide[at] = col < in ? plain[f.packed_offset + static_cast<size_t>(r * in + col)]
                            : T(extra[at]);
      }
    }
  }
  return wide;
}

}  // namespace vae::testing
