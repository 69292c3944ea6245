// The dequantization bound (DESIGN.md section 1): for a fixed continuous
// density p, log P(y) = log \int_{bin(y)} p(x) dx >= E_u log p((y + u)/256) -
// D log 256. The library reports the right-hand side for dequantized bytes;
// here the left-hand side is computed exactly by integration and the
// reported bound must not exceed it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_support.h"

namespace vae {
namespace {

using testing::CpuTrainerD;

// A Gaussian decoder over D = 2 bytes with a 1-D latent: given z the two
// dimensions are independent normals N(m_d(z), s^2), so the probability of
// the bin [a, b) is Phi((b - m)/s) - Phi((a - m)/s) per dimension, and
// P(y) = \int N(z; 0, 1) prod_d [Phi(.) - Phi(.)] dz by quadrature over z.
TEST(Dequantization, ReportedBoundIsAtMostTheExactDiscreteLogProbability) {
  Config c = testing::small_config(2, 1, {8}, 64);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.log_variance = std::log(0.02 * 0.02);  // s = 0.02: five bins wide
  c.samples = 64;
  auto t = testing::make_trainer<CpuTrainerD>(c);
  // Pull the decoder's means into [0, 1] where the bytes live: train on
  // dequantized data.
  const std::vector<uint8_t> bytes = {40, 200, 41, 198, 120, 122, 45, 205, 60, 180, 118, 125};
  const int64_t rows = static_cast<int64_t>(bytes.size()) / 2;
  auto ds = t->create_dataset(bytes.data(), rows, VAE_BYTES_DEQUANTIZE);
  t->set_float(VAE_OPT_LEARNING_RATE, 1e-2);
  for (int epoch = 0; epoch < 1500; ++epoch) t->train_epoch(*ds, rows, nullptr);

  double reported = 0;
  t->log_likelihood_dataset(*ds, 20000, VAE_ESTIMATOR_IMPORTANCE, &reported);

  auto& net = t->network();
  auto& b = net.buffers();
  const double s = 0.02;
  const int64_t nodes = 16001;
  const double lo = -8, hi = 8, h = (hi - lo) / static_cast<double>(nodes - 1);
  std::vector<double> mean0(static_cast<size_t>(nodes)), mean1(mean0.size());
  for (int64_t first = 0; first < nodes; first += net.max_rows()) {
    const int64_t count = std::min(net.max_rows(), nodes - first);
    for (int64_t i = 0; i < count; ++i) b.z[i] = lo + h * static_cast<double>(first + i);
    net.decode(count, 1);
    for (int64_t i = 0; i < count; ++i) {
      mean0[static_cast<size_t>(first + i)] = b.dec_out.back()[2 * i];
      mean1[static_cast<size_t>(first + i)] = b.dec_out.back()[2 * i + 1];
    }
  }
  // Phi(v) - Phi(u) through the tail on the bin's side of the mean, so a bin
  // many standard deviations away is not lost to cancellation.
  auto bin = [s](uint8_t y, double m) {
    const double u = (y / 256.0 - m) / (s * std::sqrt(2.0));
    const double v = ((y + 1) / 256.0 - m) / (s * std::sqrt(2.0));
    return u > 0 ? 0.5 * (std::erfc(u) - std::erfc(v)) : 0.5 * (std::erfc(-v) - std::erfc(-u));
  };
  double exact = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double p = 0;
    for (int64_t i = 0; i < nodes; ++i) {
      const double z = lo + h * static_cast<double>(i);
      const double w = (i == 0 || i == nodes - 1) ? 0.5 * h : h;
      p += w * std::exp(standard_normal_log_density(z)) *
           bin(bytes[static_cast<size_t>(2 * r)], mean0[static_cast<size_t>(i)]) *
           bin(bytes[static_cast<size_t>(2 * r + 1)], mean1[static_cast<size_t>(i)]);
    }
    exact += std::log(p) / static_cast<double>(rows);
  }
  // The bound holds (up to the estimator's noise, far below 0.01 nats at
  // K = 20000) and is not vacuous: the density is smooth on the scale of a bin.
  EXPECT_LE(reported, exact + 0.01);
  EXPECT_GT(reported, exact - 0.15);
  // The continuous log density differs from it by D log 256 = 11.09 nats.
  EXPECT_LT(exact, 0.0);
}

}  // namespace
}  // namespace vae
