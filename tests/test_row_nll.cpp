// The CPU backend's vectorized likelihood rows (src/cpu/row_nll.h) against
// the element math they stand for, term by term and summed, over logits and
// lengths that reach every part of the code: each vector width this machine
// runs, the tail, the far tails of exp, and e^-|l| near 0 and 1.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "cpu/row_nll.h"
#include "element_math.h"
#include "test_support.h"

namespace vae {
namespace {

TEST(RowNll, ExpPolynomialIsWithinThreeTenMillionths) {
  for (double step = -90.0; step <= 0.0; step += 0.0137) {
    const auto v = static_cast<float>(step);
    const double want = std::exp(std::max(static_cast<double>(v), -86.0));
    EXPECT_NEAR(exp_nonpositive_poly(v), want, 3e-7 * want) << v;
  }
  EXPECT_EQ(exp_nonpositive_poly(0.0f), 1.0f);
}

TEST(RowNll, Log1pSeriesIsWithinThreeTenMillionths) {
  for (double e = 0.0; e <= 1.0; e += 0.00091) {
    const double want = std::log1p(static_cast<double>(static_cast<float>(e)));
    EXPECT_NEAR(log1p_unit_poly(static_cast<float>(e)), want, 3e-7 * want + 1e-45) << e;
  }
  EXPECT_NEAR(log1p_unit_poly(1.0f), std::log(2.0), 3e-7);
}

// The sums of each length 1..40 over logits from -120 to 120 (beyond the
// clamp of exp), against the element math in double.
TEST(RowNll, EveryPathOfThisMachineIsChecked) {
  const std::vector<int> lanes = row_nll_lanes();
  ASSERT_FALSE(lanes.empty());
  EXPECT_EQ(lanes.back(), 0);  // the baseline runs everywhere
  std::printf("[ row_nll ] vector paths checked here: ");
  for (int l : lanes) std::printf("%d ", l);
  std::printf("\n");
}

TEST(RowNll, BernoulliRowsMatchTheElementMath) {
  const auto logits = testing::uniform(4000, 1, -120.0f, 120.0f);
  const auto small = testing::uniform(4000, 2, -3.0f, 3.0f);
  const auto bias = testing::uniform(4000, 3, -1.0f, 1.0f);
  const auto x = testing::uniform(4000, 4);
  for (const auto* out : {&logits, &small}) {
    for (int64_t dim = 1; dim <= 40; ++dim) {
      for (int64_t start = 0; start + dim <= 4000; start += 397) {
        double want = 0, scale = 0;
        for (int64_t d = start; d < start + dim; ++d) {
          const auto e = static_cast<size_t>(d);
          const double logit = static_cast<double>((*out)[e] + bias[e]);
          const double term = bernoulli_nll(static_cast<double>(x[e]), logit);
          want += term;
          // softplus(l) and x l are each about |l|: float rounds at that size.
          scale += std::fabs(term) + std::fabs(logit);
        }
        for (int lanes : row_nll_lanes()) {
          const float got = bernoulli_nll_row_at(lanes, x.data() + start, out->data() + start,
                                                 bias.data() + start, dim);
          EXPECT_NEAR(got, want, 4e-7 * scale + 1e-6)
              << "lanes " << lanes << " dim " << dim << " start " << start;
        }
      }
    }
  }
}

TEST(RowNll, GaussianRowsMatchTheElementMath) {
  const auto x = testing::uniform(1000, 5);
  const auto out = testing::uniform(1000, 6, -1.0f, 2.0f);
  const auto bias = testing::uniform(1000, 7, -0.5f, 0.5f);
  const auto log_variance = testing::uniform(1000, 8, -4.0f, 4.0f);
  std::vector<float> precision(1000);
  for (size_t d = 0; d < precision.size(); ++d) precision[d] = std::exp(-log_variance[d]);
  for (int64_t dim : {1, 7, 8, 9, 31, 784, 1000}) {
    double want = 0, offset = 0, scale = 0;
    for (int64_t d = 0; d < dim; ++d) {
      const auto e = static_cast<size_t>(d);
      const double term = gaussian_nll(static_cast<double>(x[e]),
                                       static_cast<double>(out[e] + bias[e]),
                                       static_cast<double>(log_variance[e]));
      want += term;
      scale += std::fabs(term);
      offset += 0.5 * (static_cast<double>(log_variance[e]) + kLog2Pi);
    }
    for (int lanes : row_nll_lanes()) {
      const float got = gaussian_nll_row_at(lanes, x.data(), out.data(), bias.data(),
                                            precision.data(), static_cast<float>(offset), dim);
      EXPECT_NEAR(got, want, 4e-7 * scale + 1e-5) << "lanes " << lanes << " dim " << dim;
    }
  }
  // The entry points take the widest path.
  const float widest = gaussian_nll_row_at(row_nll_lanes().front(), x.data(), out.data(),
                                           bias.data(), precision.data(), 1.0f, 784);
  EXPECT_EQ(gaussian_nll_row(x.data(), out.data(), bias.data(), precision.data(), 1.0f, 784),
            widest);
  {
  }
}

}  // namespace
}  // namespace vae
