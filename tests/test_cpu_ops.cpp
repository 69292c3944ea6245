// The CPU backend's products cut into blocks for its threads, and its row
// loops, against direct formulas: every block layout covers the product
// once, each layer's forward and backward pass agrees with a naive double
// computation on 1 to 4 threads, and the vectorized likelihood rows agree
// with the shared scalar formula.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/cpu_loops.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm_blocks.h"
#include "test_support.h"

namespace vae {
namespace {

TEST(GemmBlocks, PartsCoverTheProductOnceOnTheKernelsTiles) {
  for (int64_t m : {1, 16, 37, 128, 400, 1024}) {
    for (int64_t n : {1, 20, 40, 400, 784}) {
      for (int parts = 1; parts <= 5; ++parts) {
        std::vector<int> hits(static_cast<size_t>(m * n), 0);
        for (int p = 0; p < parts; ++p) {
          const GemmBlock b = gemm_block(m, n, p, parts);
          if (b.empty()) continue;
          EXPECT_EQ(b.r0 % kGemmRowCut, 0);
          EXPECT_EQ(b.c0 % kGemmColumnCut, 0);
          for (int64_t r = b.r0; r < b.r1; ++r) {
            for (int64_t c = b.c0; c < b.c1; ++c) ++hits[static_cast<size_t>(r * n + c)];
          }
        }
        for (int h : hits) ASSERT_EQ(h, 1) << m << " x " << n << " in " << parts;
      }
    }
  }
  EXPECT_EQ(gemm_parts(128, 400, 784, 2), 2);
  EXPECT_EQ(gemm_block(128, 400, 0, 2).c1, 200);  // S's layers halve exactly
  EXPECT_EQ(gemm_block(400, 784, 1, 2).c0, 392);
  EXPECT_EQ(gemm_parts(128, 400, 784, 16), 12);  // 400 / 32 bands
  EXPECT_EQ(gemm_parts(8, 8, 8, 4), 1);
}

struct LayerCase {
  int64_t rows, in, out;
  Activation input_activation, activation;
};

// A layer's passes on `threads` threads against sums in double.
template <class T>
void check_layer(const LayerCase& lc, int threads, double tolerance) {
  LinearLayer layer;
  layer.in = lc.in;
  layer.out = lc.out;
  layer.weight = 0;
  layer.bias = static_cast<size_t>(lc.in * lc.out);
  layer.activation = lc.activation;
  const auto p = testing::normal(layer.bias + static_cast<size_t>(lc.out), 3);
  auto xf = testing::normal(static_cast<size_t>(lc.rows * lc.in), 4);
  // The input as the previous layer's activation left it.
  for (float& v : xf) v = activate(v, lc.input_activation);
  const auto dyf = testing::normal(static_cast<size_t>(lc.rows * lc.out), 5);
  const std::vector<T> params(p.begin(), p.end()), x(xf.begin(), xf.end()),
      dy(dyf.begin(), dyf.end());
  std::vector<T> y(static_cast<size_t>(lc.rows * lc.out)), grads(params.size()),
      dx(static_cast<size_t>(lc.rows * lc.in));
  CpuOps<T> ops(threads);
  ops.begin_call();
  ops.linear_forward(layer, params.data(), x.data(), y.data(), lc.rows);
  ops.linear_backward(layer, params.data(), x.data(), lc.input_activation, dy.data(),
                      grads.data(), dx.data(), lc.rows);
  auto w = [&](int64_t o, int64_t i) {
    return static_cast<double>(params[static_cast<size_t>(o * lc.in + i)]);
  };
  auto at = [](const std::vector<T>& v, int64_t r, int64_t c, int64_t width) {
    return static_cast<double>(v[static_cast<size_t>(r * width + c)]);
  };
  for (int64_t r = 0; r < lc.rows; ++r) {
    for (int64_t o = 0; o < lc.out; ++o) {
      double pre = static_cast<double>(params[layer.bias + static_cast<size_t>(o)]);
      for (int64_t i = 0; i < lc.in; ++i) pre += at(x, r, i, lc.in) * w(o, i);
      ASSERT_NEAR(at(y, r, o, lc.out), activate(pre, lc.activation), tolerance) << r << " " << o;
    }
    for (int64_t i = 0; i < lc.in; ++i) {
      double sum = 0;
      for (int64_t o = 0; o < lc.out; ++o) sum += at(dy, r, o, lc.out) * w(o, i);
      sum *= activation_grad_from_output(at(x, r, i, lc.in), lc.input_activation);
      ASSERT_NEAR(at(dx, r, i, lc.in), sum, tolerance) << r << " " << i;
    }
  }
  for (int64_t o = 0; o < lc.out; ++o) {
    double db = 0;
    for (int64_t r = 0; r < lc.rows; ++r) db += at(dy, r, o, lc.out);
    ASSERT_NEAR(static_cast<double>(grads[layer.bias + static_cast<size_t>(o)]), db, tolerance);
    for (int64_t i = 0; i < lc.in; ++i) {
      double dw = 0;
      for (int64_t r = 0; r < lc.rows; ++r) dw += at(dy, r, o, lc.out) * at(x, r, i, lc.in);
      ASSERT_NEAR(at(grads, o, i, lc.in), dw, tolerance) << o << " " << i;
    }
  }
}

TEST(CpuOps, LayerPassesAgreeWithDirectSumsOnAnyThreadCount) {
  // Shapes whose products are cut into bands of rows, of columns, or not at all.
  const LayerCase cases[] = {
      {96, 200, 80, Activation::kRelu, Activation::kRelu},
      {200, 64, 40, Activation::kTanh, Activation::kIdentity},
      {130, 300, 37, Activation::kIdentity, Activation::kTanh},
      {64, 40, 200, Activation::kRelu, Activation::kRelu},
      {5, 7, 3, Activation::kRelu, Activation::kRelu},
  };
  for (const LayerCase& lc : cases) {
    for (int threads = 1; threads <= 4; ++threads) {
      SCOPED_TRACE(::testing::Message() << lc.rows << "x" << lc.in << "->" << lc.out << ", "
                                        << threads << " threads");
      check_layer<double>(lc, threads, 1e-10);
      check_layer<float>(lc, threads, 2e-4);
    }
  }
}

// The float rows (polynomial exp and log1p, 16 partial sums, the instruction
// set the processor has) against the shared formula summed in double: within
// the per-element bound of test_poly_math plus the float sum's rounding.
TEST(CpuLoops, LikelihoodRowsAgreeWithTheSharedFormula) {
  for (int64_t dim : {1, 15, 16, 17, 100, 784}) {
    const auto logits = testing::uniform(static_cast<size_t>(dim), 6, -30.0f, 30.0f);
    const auto x = testing::binary(static_cast<size_t>(dim), 7);
    const float scale = 0.25f;
    Likelihood bernoulli;
    std::vector<float> grad(static_cast<size_t>(dim));
    const float got = cpu_loops::likelihood_row(bernoulli, nullptr, logits.data(), x.data(), dim,
                                                grad.data(), scale);
    const float value_only = cpu_loops::likelihood_row(bernoulli, nullptr, logits.data(),
                                                       x.data(), dim, nullptr, scale);
    EXPECT_EQ(got, value_only);
    double expected = 0, magnitude = 0;
    for (size_t d = 0; d < logits.size(); ++d) {
      float g = 0;
      const float term = bernoulli_nll_and_grad(x[d], logits[d], &g);
      expected += term;
      magnitude += std::fabs(term) + std::fabs(logits[d]);
      ASSERT_NEAR(grad[d], g * scale, 0x1p-22 * scale) << dim << " " << d;
    }
    EXPECT_NEAR(got, expected, 1e-6 * magnitude) << dim;

    Likelihood gaussian;
    gaussian.gaussian = true;
    gaussian.variance = VAE_VARIANCE_LEARNED_SHARED;
    const float log_variance = -0.7f;
    const float gauss = cpu_loops::likelihood_row(gaussian, &log_variance, logits.data(),
                                                  x.data(), dim, grad.data(), scale);
    expected = magnitude = 0;
    for (size_t d = 0; d < logits.size(); ++d) {
      float g = 0;
      const float term = gaussian_nll_and_grad_mean(x[d], logits[d], log_variance, &g);
      expected += term;
      magnitude += std::fabs(term);
      ASSERT_EQ(grad[d], g * scale) << dim << " " << d;
    }
    EXPECT_NEAR(gauss, expected, 1e-6 * magnitude) << dim;
  }
}

// Every instruction set's version rounds the same way: no fused multiply-add
// and the same order of the partial sums, so the results are bit-identical.
TEST(CpuLoops, EveryInstructionSetGivesTheSameBits) {
  using cpu_loops::Isa;
  std::vector<Isa> isas = {Isa::kBaseline};
  if (cpu_loops::best_isa() != Isa::kBaseline) isas.push_back(Isa::kAvx2);
  if (cpu_loops::best_isa() == Isa::kAvx512) isas.push_back(Isa::kAvx512);
  const int64_t dim = 789;
  const auto logits = testing::uniform(static_cast<size_t>(dim), 8, -90.0f, 90.0f);
  const auto x = testing::uniform(static_cast<size_t>(dim), 9);
  Likelihood bernoulli;
  std::vector<float> base_grad(static_cast<size_t>(dim)), grad(base_grad.size());
  const float base = cpu_loops::likelihood_row_for(Isa::kBaseline, bernoulli, nullptr,
                                                   logits.data(), x.data(), dim, base_grad.data(),
                                                   0.5f);
  const size_t count = 5000;
  const auto g = testing::normal(count, 10);
  const auto m0 = testing::normal(count, 11);
  const auto v0 = testing::uniform(count, 12);
  const auto p0 = testing::normal(count, 13);
  AdamStep step{0.9, 0.999, 1e-8, 1e-3 / (1 - 0.9), std::sqrt(1 - 0.999)};
  std::vector<float> base_p = p0, base_m = m0, base_v = v0;
  cpu_loops::adam_range_for(Isa::kBaseline, base_p.data(), g.data(), base_m.data(),
                            base_v.data(), 3, count, step);
  for (Isa isa : isas) {
    SCOPED_TRACE(static_cast<int>(isa));
    EXPECT_EQ(cpu_loops::likelihood_row_for(isa, bernoulli, nullptr, logits.data(), x.data(), dim,
                                            grad.data(), 0.5f),
              base);
    EXPECT_EQ(grad, base_grad);
    std::vector<float> p = p0, m = m0, v = v0;
    cpu_loops::adam_range_for(isa, p.data(), g.data(), m.data(), v.data(), 3, count, step);
    EXPECT_EQ(p, base_p);
    EXPECT_EQ(m, base_m);
    EXPECT_EQ(v, base_v);
  }
  EXPECT_EQ(base_p[0], p0[0]);  // outside the range
  EXPECT_NE(base_p[3], p0[3]);
}

// The evaluation's rows (the output bias added by the likelihood) are the
// training step's rows of out + bias, bit for bit, on every instruction set
// this machine runs, for every likelihood, and the value the gradient's
// form gives.
TEST(CpuLoops, RowsWithABiasAreTheRowsOfTheSum) {
  using cpu_loops::Isa;
  std::vector<Isa> isas = {Isa::kBaseline};
  if (cpu_loops::best_isa() != Isa::kBaseline) isas.push_back(Isa::kAvx2);
  if (cpu_loops::best_isa() == Isa::kAvx512) isas.push_back(Isa::kAvx512);
  const auto logits = testing::uniform(1000, 14, -120.0f, 120.0f);
  const auto bias = testing::uniform(1000, 15, -1.0f, 1.0f);
  const auto x = testing::uniform(1000, 16);
  const auto log_variance = testing::uniform(1000, 17, -4.0f, 4.0f);
  std::vector<float> sum(logits.size()), grad(logits.size());
  for (size_t d = 0; d < sum.size(); ++d) sum[d] = logits[d] + bias[d];
  Likelihood bernoulli, shared, per_dim;
  shared.gaussian = per_dim.gaussian = true;
  shared.variance = VAE_VARIANCE_LEARNED_SHARED;
  per_dim.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  for (const Likelihood* lik : {&bernoulli, &shared, &per_dim}) {
    for (int64_t dim : {1, 7, 16, 17, 31, 784, 1000}) {
      for (Isa isa : isas) {
        SCOPED_TRACE(::testing::Message() << "isa " << static_cast<int>(isa) << " dim " << dim
                                          << " gaussian " << lik->gaussian << " variance "
                                          << lik->variance);
        const float want = cpu_loops::likelihood_row_for(isa, *lik, log_variance.data(),
                                                         sum.data(), x.data(), dim, nullptr, 1);
        EXPECT_EQ(cpu_loops::likelihood_row_for(isa, *lik, log_variance.data(), logits.data(),
                                                x.data(), dim, nullptr, 1, bias.data()),
                  want);
        EXPECT_EQ(cpu_loops::likelihood_row_for(isa, *lik, log_variance.data(), logits.data(),
                                                x.data(), dim, grad.data(), 1, bias.data()),
                  want);
      }
    }
  }
  // The double rows likewise.
  std::vector<double> logits_d(logits.begin(), logits.end()), bias_d(bias.begin(), bias.end()),
      x_d(x.begin(), x.end()), log_variance_d(log_variance.begin(), log_variance.end()),
      sum_d(logits_d.size());
  for (size_t d = 0; d < sum_d.size(); ++d) sum_d[d] = logits_d[d] + bias_d[d];
  EXPECT_EQ(cpu_loops::likelihood_row(per_dim, log_variance_d.data(), logits_d.data(), x_d.data(),
                                      1000, nullptr, 1.0, bias_d.data()),
            cpu_loops::likelihood_row(per_dim, log_variance_d.data(), sum_d.data(), x_d.data(),
                                      1000, nullptr, 1.0));
}

}  // namespace
}  // namespace vae
