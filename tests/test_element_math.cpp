// The shared element math against direct formulas, closed forms and Monte
// Carlo; the Philox generator against its published known answers.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "byte_transform.h"
#include "element_math.h"
#include "philox.h"

namespace vae {
namespace {

TEST(ElementMath, Log1pOfAUnitValueIsWithinTwoUlps) {
  // Against long double log1p over (0, 1], dense near 0 where log(1 + e)
  // alone would lose every digit.
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> exponent(-40.0f, 0.0f);
  for (int trial = 0; trial < 200000; ++trial) {
    const float e = std::exp2(exponent(rng));
    const long double exact = std::log1p(static_cast<long double>(e));
    const float got = log1p_unit(e);
    const float ulp = std::nextafter(static_cast<float>(exact), INFINITY) - static_cast<float>(exact);
    ASSERT_LE(std::fabs(static_cast<long double>(got) - exact), 2.0L * ulp) << e;
  }
  for (double e : {0.0, 1e-300, 1e-17, 1e-9, 0.25, 1.0}) {
    EXPECT_NEAR(log1p_unit(e), std::log1p(e), 4e-16 * std::log1p(e) + 1e-320) << e;
  }
}

TEST(ElementMath, SoftplusMatchesDirectFormulaAndNeverOverflows) {
  for (double l : {-30.0, -3.5, -0.25, 0.0, 0.7, 4.0, 30.0}) {
    EXPECT_NEAR(softplus(l), std::log1p(std::exp(l)), 1e-15 * (1 + std::fabs(l))) << l;
    EXPECT_NEAR(softplus(static_cast<float>(l)), std::log1p(std::exp(l)), 3e-7 * (1 + std::fabs(l)));
  }
  EXPECT_FLOAT_EQ(softplus(100.0f), 100.0f);
  EXPECT_EQ(softplus(-100.0f), std::exp(-100.0f));
  EXPECT_TRUE(std::isfinite(softplus(1e30f)));
  EXPECT_DOUBLE_EQ(softplus(800.0), 800.0);
}

TEST(ElementMath, BernoulliTermsAtExtremeLogits) {
  // -log p(x|l) = -x log sigmoid(l) - (1 - x) log(1 - sigmoid(l))
  //             = x log(1 + e^-l) + (1 - x) log(1 + e^l), in long double.
  for (double l : {-100.0, -7.0, -0.3, 0.0, 2.5, 100.0}) {
    for (double x : {0.0, 0.25, 1.0}) {
      const long double ll = l;
      const long double s = 1.0L / (1.0L + std::exp(-ll));
      const long double direct = x * std::log1p(std::exp(-ll)) + (1 - x) * std::log1p(std::exp(ll));
      EXPECT_NEAR(bernoulli_nll(x, l), static_cast<double>(direct), 1e-12 * (1 + std::fabs(l)));
      EXPECT_NEAR(bernoulli_nll_grad(x, l), static_cast<double>(s - x), 1e-15);
      const float f = bernoulli_nll(static_cast<float>(x), static_cast<float>(l));
      EXPECT_TRUE(std::isfinite(f));
      EXPECT_NEAR(f, static_cast<double>(direct), 2e-5 * (1 + std::fabs(l)));
      EXPECT_TRUE(std::isfinite(bernoulli_nll_grad(static_cast<float>(x), static_cast<float>(l))));
    }
  }
  EXPECT_EQ(sigmoid(100.0f), 1.0f);
  EXPECT_GT(sigmoid(-100.0f), 0.0f);
}

TEST(ElementMath, FusedValueAndGradientMatchTheSeparateFormulas) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<double> u(-3, 3);
  for (double l : {-100.0, -20.0, 0.0, 20.0, 100.0}) {
    for (double x : {0.0, 0.6, 1.0}) {
      double g = 0;
      EXPECT_EQ(bernoulli_nll_and_grad(x, l, &g), bernoulli_nll(x, l));
      EXPECT_EQ(g, bernoulli_nll_grad(x, l));
    }
  }
  for (int trial = 0; trial < 100; ++trial) {
    const double x = u(rng), l = u(rng), m = u(rng), v = u(rng);
    double g = 0;
    EXPECT_NEAR(bernoulli_nll_and_grad(x, l, &g), bernoulli_nll(x, l), 1e-15);
    EXPECT_NEAR(g, bernoulli_nll_grad(x, l), 1e-15);
    EXPECT_NEAR(gaussian_nll_and_grad_mean(x, m, v, &g), gaussian_nll(x, m, v), 1e-14);
    EXPECT_NEAR(g, gaussian_nll_grad_mean(x, m, v), 1e-14);
  }
}

TEST(ElementMath, GaussianTermsMatchLogDensityAndDerivatives) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-2, 2);
  for (int trial = 0; trial < 50; ++trial) {
    const double x = u(rng), m = u(rng), v = u(rng);
    const double sd = std::exp(v / 2);
    const double density = std::exp(-0.5 * (x - m) * (x - m) / (sd * sd)) / (sd * std::sqrt(2 * M_PI));
    EXPECT_NEAR(gaussian_nll(x, m, v), -std::log(density), 1e-12);
    const double h = 1e-6;
    EXPECT_NEAR(gaussian_nll_grad_mean(x, m, v),
                (gaussian_nll(x, m + h, v) - gaussian_nll(x, m - h, v)) / (2 * h), 1e-7);
    EXPECT_NEAR(gaussian_nll_grad_logvar(x, m, v),
                (gaussian_nll(x, m, v + h) - gaussian_nll(x, m, v - h)) / (2 * h), 1e-7);
  }
}

TEST(ElementMath, AnalyticKlMatchesMonteCarlo) {
  // KL = E_q[log q(z) - log p(z)], estimated with 400,000 draws of z ~ q.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n01(0, 1);
  for (auto [mu, l] : {std::pair{0.3, -0.7}, std::pair{-1.5, 0.4}, std::pair{2.0, -2.5}}) {
    const int draws = 400000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < draws; ++i) {
      const double eps = n01(rng);
      const double z = reparameterize(mu, l, eps);
      const double term = sampled_kl_term(z, eps, l);
      sum += term;
      sum2 += term * term;
    }
    const double mean = sum / draws;
    const double se = std::sqrt((sum2 / draws - mean * mean) / draws);
    EXPECT_NEAR(kl_term(mu, l), mean, 5 * se) << mu << " " << l;
    // The closed form of KL(N(mu, s^2) || N(0, 1)) = log(1/s) + (s^2 + mu^2)/2 - 1/2.
    const double s = std::exp(l / 2);
    EXPECT_NEAR(kl_term(mu, l), -std::log(s) + (s * s + mu * mu) / 2 - 0.5, 1e-14);
  }
}

TEST(ElementMath, ActivationDerivativesFromOutputs) {
  for (double pre : {-1.3, -0.2, 0.4, 2.2}) {
    const double h = 1e-6;
    for (Activation a : {Activation::kRelu, Activation::kTanh, Activation::kIdentity}) {
      const double fd = (activate(pre + h, a) - activate(pre - h, a)) / (2 * h);
      EXPECT_NEAR(activation_grad_from_output(activate(pre, a), a), fd, 1e-8);
    }
  }
}

TEST(Philox, KnownAnswersOfTheReference) {
  // Known-answer vectors of Philox4x32-10 from the Random123 distribution.
  const Philox4 zero = philox4x32_10(Philox4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const Philox4 ones = philox4x32_10(Philox4{{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  const Philox4 pi = philox4x32_10(Philox4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                   0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Philox, NormalDrawsHaveStandardMoments) {
  const NoiseKey key{7, 3, NoiseStream::kLatent, 0};
  const int count = 200000;
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  for (int i = 0; i < count; ++i) {
    const double n = standard_normal(key, static_cast<uint64_t>(i));
    s1 += n;
    s2 += n * n;
    s3 += n * n * n;
    s4 += n * n * n * n;
  }
  EXPECT_NEAR(s1 / count, 0.0, 0.01);
  EXPECT_NEAR(s2 / count, 1.0, 0.015);
  EXPECT_NEAR(s3 / count, 0.0, 0.03);
  EXPECT_NEAR(s4 / count, 3.0, 0.08);
  // The offset shifts the array: element i of offset o is element i + o.
  NoiseKey shifted = key;
  shifted.offset = 10;
  EXPECT_EQ(standard_normal(shifted, 5), standard_normal(key, 15));
  NoiseKey other = key;
  other.stream = NoiseStream::kPrior;
  EXPECT_NE(standard_normal(other, 0), standard_normal(key, 0));
}

TEST(Philox, UniformSequenceGivesTheSameNumbersAsSingleDraws) {
  const NoiseKey key{13, 4, NoiseStream::kBytes, 6};
  UniformSequence sequence(key);
  for (uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(sequence.at(i), standard_uniform(key, i)) << i;
}

TEST(Philox, NormalSequenceGivesTheSameNumbersAsSingleDraws) {
  const NoiseKey key{13, 4, NoiseStream::kLatent, 7};
  NormalSequence sequence(key);
  for (uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(sequence.at(i), standard_normal(key, i)) << i;
  // Starting anywhere, as a thread's part of an array does.
  NormalSequence from_middle(key);
  for (uint64_t i = 501; i < 600; ++i) EXPECT_EQ(from_middle.at(i), standard_normal(key, i)) << i;
  // Walks that skip ahead.
  for (uint64_t start : {1, 2, 3, 7}) {
    NormalSequence from(key);
    for (uint64_t i = start; i < 200; i += 3) EXPECT_EQ(from.at(i), standard_normal(key, i)) << i;
  }
}

TEST(ByteTransform, BinarizedMeansAreNearTheIntensity) {
  const NoiseKey key{5, 1, NoiseStream::kBytes, 0};
  for (int y : {0, 1, 51, 128, 200, 254, 255}) {
    const int draws = 100000;
    double sum = 0;
    for (int i = 0; i < draws; ++i) {
      const float x = transform_byte<float>(static_cast<uint8_t>(y),
                                            standard_uniform(key, static_cast<uint64_t>(i + y * draws)),
                                            ByteTransform::kBinarize);
      ASSERT_TRUE(x == 0.0f || x == 1.0f);
      sum += x;
    }
    const double p = y / 255.0;
    EXPECT_NEAR(sum / draws, p, 5 * std::sqrt(p * (1 - p) / draws) + 1e-12) << y;
  }
}

TEST(ByteTransform, DequantizedValuesStayInTheirBin) {
  const NoiseKey key{9, 2, NoiseStream::kBytes, 0};
  for (int y = 0; y < 256; ++y) {
    double sum = 0;
    const int draws = 2000;
    for (int i = 0; i < draws; ++i) {
      const float u = standard_uniform(key, static_cast<uint64_t>(y * draws + i));
      const double x = transform_byte<double>(static_cast<uint8_t>(y), u, ByteTransform::kDequantize);
      ASSERT_GE(x, y / 256.0);
      ASSERT_LT(x, (y + 1) / 256.0);
      sum += x;
    }
    // The mean of U[y/256, (y+1)/256) is (y + 1/2)/256; sd of the mean 1/(256 sqrt(12 draws)).
    EXPECT_NEAR(sum / draws, (y + 0.5) / 256.0, 5.0 / (256.0 * std::sqrt(12.0 * draws)));
  }
  EXPECT_FLOAT_EQ(transform_byte<float>(255, 0.0f, ByteTransform::kScale), 1.0f);
  EXPECT_FLOAT_EQ(transform_byte<float>(51, 0.9f, ByteTransform::kScale), 0.2f);
}

// Adam as PyTorch's where the result is finite; a parameter whose update
// would not be (0 / 0 when epsilon rounds to 0 in float and m = v = 0; a
// first moment over a zero second moment with beta2 = 0 and a tiny
// epsilon) keeps its value, and the moments stay what Adam makes them.
TEST(ElementMath, AdamKeepsAParameterWhoseUpdateIsNotFinite) {
  const AdamStep usual{0.9, 0.999, 1e-8, 1e-3 / (1 - 0.9), std::sqrt(1 - 0.999)};
  float p = 0.25f, m = 0.0f, v = 0.0f;
  adam_update(&p, 0.5f, &m, &v, usual);
  const float m1 = (1.0f - 0.9f) * 0.5f, v1 = (1.0f - 0.999f) * 0.5f * 0.5f;
  EXPECT_FLOAT_EQ(m, m1);
  EXPECT_FLOAT_EQ(v, v1);
  EXPECT_FLOAT_EQ(p, 0.25f - static_cast<float>(1e-3 / 0.1) *
                                 (m1 / (std::sqrt(v1) / static_cast<float>(usual.bias2_sqrt) + 1e-8f)));

  const AdamStep zero_epsilon{0.9, 0.999, 5e-324, 1e-3 / (1 - 0.9), std::sqrt(1 - 0.999)};
  p = 0.25f, m = 0.0f, v = 0.0f;
  adam_update(&p, 0.0f, &m, &v, zero_epsilon);  // 0 / 0
  EXPECT_EQ(p, 0.25f);
  EXPECT_EQ(m, 0.0f);
  EXPECT_EQ(v, 0.0f);

  const AdamStep no_second_memory{0.9, 0.0, 1e-45, 1e6, 1.0};
  p = 0.25f, m = 4e18f, v = 0.0f;
  adam_update(&p, 0.0f, &m, &v, no_second_memory);  // 1e6 * 3.6e18 / 1.4e-45
  EXPECT_EQ(p, 0.25f);
  EXPECT_FLOAT_EQ(m, 3.6e18f);
  EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace vae
