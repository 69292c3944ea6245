// Every parameter's gradient against its central finite difference, in
// double, on the CPU backend: the check the model variants' suites share.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "test_support.h"

namespace vae::testing {

// The loss and its gradient at the trainer's parameters under noise eps
// (and, for a conditional model, the rows' conditions), and every
// parameter's central difference against it.
inline void expect_gradient_matches_differences(CpuTrainerD& t, const std::vector<float>& x,
                                                int64_t n, const std::vector<float>& eps,
                                                const float* condition = nullptr) {
  std::vector<double> gradient, unused;
  t.loss_and_gradient(x.data(), n, eps.data(), &gradient, condition);
  double* params = t.network().buffers().params;
  const ParameterLayout& layout = t.network().layout();
  ASSERT_EQ(gradient.size(), layout.packed_total);
  for (const NamedTensor& tensor : layout.tensors()) {
    for (size_t i = 0; i < tensor.count; ++i) {
      const size_t e = tensor.offset + i;
      const double h = 1e-5, saved = params[e];
      params[e] = saved + h;
      t.loss_and_gradient(x.data(), n, eps.data(), &unused, condition);
      const double up = t.network().buffers().loss[0];
      params[e] = saved - h;
      t.loss_and_gradient(x.data(), n, eps.data(), &unused, condition);
      const double down = t.network().buffers().loss[0];
      params[e] = saved;
      const double fd = (up - down) / (2 * h);
      EXPECT_NEAR(gradient[tensor.packed_offset + i], fd, 1e-7 + 1e-6 * std::fabs(fd))
          << tensor.name << " element " << i;
    }
  }
}

}  // namespace vae::testing
