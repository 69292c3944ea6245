// The CPU backend's polynomial exp and log1p (src/cpu/poly_math.h) against
// long double over dense sweeps of their domains, and the Bernoulli terms
// they compute against the shared scalar formula of kernels/element_math.h
// with the standard library's functions, which the CUDA kernels compute.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/poly_math.h"
#include "element_math.h"

namespace vae {
namespace {

float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// |got - exact| in units of the last place of exact as a float.
long double ulps(float got, long double exact) {
  const float rounded = static_cast<float>(std::fabs(exact));
  const long double ulp = std::nextafter(rounded, INFINITY) - rounded;
  return std::fabs(static_cast<long double>(got) - exact) / ulp;
}

constexpr long double kSmallestNormal = 1.17549435082228750797e-38L;
constexpr long double kSmallestSubnormal = 1.40129846432481707092e-45L;

TEST(PolyMath, ExpIsWithinTwoUlpsOnItsDomain) {
  // Every 401st float of [-104, 0] (about 2.7 million), from -0 down.
  long double worst = 0, worst_subnormal = 0;
  for (uint32_t bits = 0x80000000u; bits <= 0xC2D00000u; bits += 401) {
    const float x = float_from_bits(bits);
    const long double exact = std::exp(static_cast<long double>(x));
    const float got = PolyMath::exp_nonpositive(x);
    if (exact >= kSmallestNormal) {
      worst = std::max(worst, ulps(got, exact));
    } else {
      const long double error = std::fabs(static_cast<long double>(got) - exact);
      worst_subnormal = std::max(worst_subnormal, error / kSmallestSubnormal);
    }
  }
  EXPECT_LE(worst, 2.0L);
  EXPECT_LE(worst_subnormal, 1.0L);
  EXPECT_EQ(PolyMath::exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(PolyMath::exp_nonpositive(-0.0f), 1.0f);
  EXPECT_EQ(PolyMath::exp_nonpositive(-104.5f), 0.0f);
  EXPECT_EQ(PolyMath::exp_nonpositive(-1e30f), 0.0f);
  EXPECT_EQ(PolyMath::exp_nonpositive(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isnan(PolyMath::exp_nonpositive(NAN)));
}

TEST(PolyMath, Log1pIsWithinTwoUlpsOnTheUnitInterval) {
  // Every 401st float of [0, 1] (about 2.7 million), dense near 0 where log(1 + e) alone fails.
  long double worst = 0;
  for (uint32_t bits = 1; bits <= 0x3F800000u; bits += 401) {
    const float e = float_from_bits(bits);
    worst = std::max(worst, ulps(PolyMath::log1p_unit(e), std::log1p(static_cast<long double>(e))));
  }
  EXPECT_LE(worst, 2.0L);
  EXPECT_EQ(PolyMath::log1p_unit(0.0f), 0.0f);
  EXPECT_LE(ulps(PolyMath::log1p_unit(1.0f), std::log(2.0L)), 2.0L);
  EXPECT_TRUE(std::isnan(PolyMath::log1p_unit(NAN)));
}

// The bound stated for the CPU's Bernoulli terms against the shared formula:
// the two log1p(e^-|l|) differ by at most 2 ulp each (2^-22 of it), and the
// final sum's rounding by about an ulp of its largest operand; the gradient
// sigmoid(l) - x by at most 2^-22.
TEST(PolyMath, BernoulliTermsAgreeWithTheSharedFormula) {
  for (float x : {0.0f, 0.3f, 1.0f}) {
    // Every 1327th finite float (about 1.7 million) with |l| <= 200, both signs.
    for (uint32_t bits = 0; bits < 0xFF800000u; bits += 1327) {
      const float l = float_from_bits(bits);
      if (!(std::fabs(l) <= 200.0f)) continue;
      float grad_poly = 0, grad_std = 0;
      const float poly = bernoulli_nll_and_grad<float, PolyMath>(x, l, &grad_poly);
      const float shared = bernoulli_nll_and_grad(x, l, &grad_std);
      const double tail = std::log1p(std::exp(-std::fabs(static_cast<double>(l))));
      const double bound = 0x1p-22 * (tail + std::fabs(l) + std::fabs(shared));
      ASSERT_LE(std::fabs(static_cast<double>(poly) - shared), bound) << "x " << x << " l " << l;
      ASSERT_LE(std::fabs(static_cast<double>(grad_poly) - grad_std), 0x1p-22)
          << "x " << x << " l " << l;
      ASSERT_EQ((bernoulli_nll<float, PolyMath>(x, l)), poly) << "x " << x << " l " << l;
    }
  }
  float grad = 0;
  EXPECT_TRUE(std::isnan(bernoulli_nll_and_grad<float, PolyMath>(1.0f, NAN, &grad)));
  EXPECT_TRUE(std::isnan(grad));
  EXPECT_EQ((bernoulli_nll_and_grad<float, PolyMath>(0.0f, 1e30f, &grad)), 1e30f);
  EXPECT_EQ(grad, 1.0f);
}

}  // namespace
}  // namespace vae
