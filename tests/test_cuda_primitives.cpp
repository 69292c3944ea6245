// Every primitive of CudaOps against its reference, CpuOps<float>, on the
// same random inputs (odd sizes, unaligned arrays), and the step-state
// kernels against the CPU's rules. Every test skips itself where there is no
// CUDA device.
#include <gtest/gtest.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "error.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::CpuTrainerF;
using testing::CudaTrainer;
using testing::DeviceArray;
using testing::from_device;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;
using testing::to_device;

// One array in both backends' arenas.
struct Pair {
  float* cpu = nullptr;
  float* gpu = nullptr;
  size_t count = 0;
};

// A CpuOps<float> and a CudaOps side by side, each with its own arena, from
// which the tests take the same arrays.
class Primitives {
 public:
  explicit Primitives(const Config& c, size_t capacity = size_t{1} << 20)
      : cpu(1), gpu(c), capacity_(capacity) {
    cpu_base_ = cpu.allocate(capacity);
    gpu_base_ = gpu.allocate(capacity);
  }

  // count floats; `skew` extra floats first, so the arrays start at varied
  // alignments as the workspace's buffers do.
  Pair take(size_t count, size_t skew = 1) {
    used_ += skew;
    EXPECT_LE(used_ + count, capacity_);
    Pair p{cpu_base_ + used_, gpu_base_ + used_, count};
    used_ += count;
    return p;
  }
  Pair input(const std::vector<float>& v) {
    Pair p = take(v.size());
    std::copy(v.begin(), v.end(), p.cpu);
    gpu.upload_from_caller(p.gpu, v.data(), v.size());
    gpu.synchronize();
    return p;
  }
  // Writes the same values into an existing pair.
  void set(const Pair& p, const std::vector<float>& v) {
    std::copy(v.begin(), v.end(), p.cpu);
    gpu.upload_from_caller(p.gpu, v.data(), v.size());
    gpu.synchronize();
  }
  std::vector<float> host(const Pair& p) const { return {p.cpu, p.cpu + p.count}; }
  std::vector<float> device(const Pair& p) const {
    std::vector<float> v(p.count);
    gpu.copy_to_host(v.data(), p.gpu, p.count);
    return v;
  }
  ::testing::AssertionResult same(const Pair& p, double tol) const {
    return close(device(p), host(p), tol);
  }

  CpuOps<float> cpu;
  CudaOps gpu;

 private:
  size_t capacity_;
  size_t used_ = 0;
  float* cpu_base_ = nullptr;
  float* gpu_base_ = nullptr;
};

Config primitive_config(int64_t dim) {
  Config c = testing::small_config(dim, 4, {32}, 8);  // widest 32: room for the layers the tests build
  c.backend = VAE_BACKEND_CUDA;
  return c;
}

Likelihood likelihood(bool gaussian, int variance, double fixed = 0.3) {
  Likelihood lik;
  lik.gaussian = gaussian;
  lik.variance = gaussian ? variance : VAE_VARIANCE_FIXED;
  lik.fixed_log_variance = fixed;
  return lik;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu: return "relu";
    case Activation::kTanh: return "tanh";
    default: return "identity";
  }
}

// Values a layer with activation `a` outputs: ReLU outputs with zeros,
// tanh outputs in (-1, 1), or anything.
std::vector<float> activation_output(size_t count, uint32_t seed, Activation a) {
  auto v = testing::uniform(count, seed, -1.5f, 1.5f);
  for (float& x : v) x = activate(x, a);
  return v;
}

constexpr double kElementTol = 1e-5;  // element math, same formulas
constexpr double kGemmTol = 1e-5;     // products of a few dozen terms in another order

// ---------------------------------------------------------------------------
// Each primitive against the CPU backend.

TEST(CudaPrimitives, LinearForwardMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  for (Activation a : {Activation::kRelu, Activation::kTanh, Activation::kIdentity}) {
    Primitives p(primitive_config(12));
    LinearLayer layer;
    layer.in = 37;
    layer.out = 23;
    layer.activation = a;
    layer.weight = 3;  // unaligned, as in the flat parameter buffer
    layer.bias = layer.weight + static_cast<size_t>(layer.in * layer.out);
    const int64_t rows = 19;
    const Pair params = p.input(testing::uniform(layer.bias + 23, 1, -0.5f, 0.5f));
    const Pair x = p.input(testing::uniform(static_cast<size_t>(rows * layer.in), 2, -1.0f, 1.0f));
    const Pair y = p.take(static_cast<size_t>(rows * layer.out));
    p.cpu.linear_forward(layer, params.cpu, x.cpu, y.cpu, rows);
    p.gpu.linear_forward(layer, params.gpu, x.gpu, y.gpu, rows);
    EXPECT_TRUE(p.same(y, kGemmTol)) << activation_name(a);
  }
}

TEST(CudaPrimitives, LinearBackwardMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  for (Activation in_act : {Activation::kIdentity, Activation::kRelu, Activation::kTanh}) {
    for (int mode = 0; mode < 3; ++mode) {  // 0: grads and dx, 1: grads only, 2: dx only
      Primitives p(primitive_config(12));
      LinearLayer layer;
      layer.in = 29;
      layer.out = 17;
      layer.weight = 5;
      layer.bias = layer.weight + static_cast<size_t>(layer.in * layer.out);
      const int64_t rows = 21;
      const size_t total = layer.bias + 17 + 2;
      const Pair params = p.input(testing::uniform(total, 3, -0.5f, 0.5f));
      const Pair x = p.input(activation_output(static_cast<size_t>(rows * layer.in), 4, in_act));
      const Pair dy = p.input(testing::normal(static_cast<size_t>(rows * layer.out), 5));
      const Pair grads = p.input(std::vector<float>(total, 0.25f));
      const Pair dx = p.input(std::vector<float>(static_cast<size_t>(rows * layer.in), 0.5f));
      const bool want_grads = mode != 2;
      const bool want_dx = mode != 1;
      p.cpu.linear_backward(layer, params.cpu, x.cpu, in_act, dy.cpu,
                            want_grads ? grads.cpu : nullptr, want_dx ? dx.cpu : nullptr, rows);
      p.gpu.linear_backward(layer, params.gpu, x.gpu, in_act, dy.gpu,
                            want_grads ? grads.gpu : nullptr, want_dx ? dx.gpu : nullptr, rows);
      EXPECT_TRUE(p.same(grads, kGemmTol)) << activation_name(in_act) << " mode " << mode;
      EXPECT_TRUE(p.same(dx, kGemmTol)) << activation_name(in_act) << " mode " << mode;
    }
  }
}

TEST(CudaPrimitives, LatentForwardMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  for (bool injected : {false, true}) {
    Primitives p(primitive_config(12));
    const int64_t n = 5, samples = 3, latent = 4;
    const Pair mu_logvar = p.input(testing::uniform(static_cast<size_t>(n * 2 * latent), 6, -1.0f, 1.0f));
    const Pair eps = p.input(testing::normal(static_cast<size_t>(n * samples * latent), 7));
    const Pair z = p.take(eps.count);
    const Pair kl = p.take(static_cast<size_t>(n));
    const Pair kl_sample = p.take(static_cast<size_t>(n * samples));
    NoiseSource noise;
    noise.injected = injected;
    noise.key = NoiseKey{42, 7, NoiseStream::kLatent, 3};
    p.cpu.latent_forward(mu_logvar.cpu, n, samples, latent, noise, eps.cpu, z.cpu, kl.cpu,
                         kl_sample.cpu);
    p.gpu.latent_forward(mu_logvar.gpu, n, samples, latent, noise, eps.gpu, z.gpu, kl.gpu,
                         kl_sample.gpu);
    EXPECT_TRUE(p.same(eps, kElementTol)) << injected;
    EXPECT_TRUE(p.same(z, kElementTol)) << injected;
    EXPECT_TRUE(p.same(kl, kElementTol)) << injected;
    EXPECT_TRUE(p.same(kl_sample, kElementTol)) << injected;
  }
}

TEST(CudaPrimitives, StandardNormalMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const Pair out = p.take(1001);
  const NoiseKey key{7, 123456789012ull, NoiseStream::kPrior, 5};
  p.cpu.standard_normal(key, 1001, out.cpu);
  p.gpu.standard_normal(key, 1001, out.gpu);
  EXPECT_TRUE(p.same(out, kElementTol));
}

TEST(CudaPrimitives, LikelihoodForwardMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const int64_t dim = 301, n = 5, samples = 3, rows = n * samples;
  const std::vector<std::pair<bool, int>> cases = {{false, VAE_VARIANCE_FIXED},
                                                   {true, VAE_VARIANCE_FIXED},
                                                   {true, VAE_VARIANCE_LEARNED_SHARED},
                                                   {true, VAE_VARIANCE_LEARNED_PER_DIM},
                                                   {true, VAE_VARIANCE_DECODER}};
  for (const auto& [gaussian, variance] : cases) {
    Primitives p(primitive_config(dim));
    const Likelihood lik = likelihood(gaussian, variance);
    const size_t width = static_cast<size_t>(lik.width(dim));  // 2 dim with the decoder's variance
    const Pair x = p.input(gaussian ? testing::uniform(static_cast<size_t>(n * dim), 8)
                                    : testing::binary(static_cast<size_t>(n * dim), 8));
    const Pair out = p.input(testing::normal(static_cast<size_t>(rows) * width, 9));
    const Pair lv = p.input(testing::uniform(static_cast<size_t>(dim), 10, -0.5f, 0.5f));
    const Pair nll = p.take(static_cast<size_t>(rows));
    const Pair grad = p.take(static_cast<size_t>(rows) * width);
    p.cpu.likelihood_forward(lik, lv.cpu, out.cpu, x.cpu, rows, n, dim, nll.cpu, nullptr, 1.0f);
    p.gpu.likelihood_forward(lik, lv.gpu, out.gpu, x.gpu, rows, n, dim, nll.gpu, nullptr, 1.0f);
    EXPECT_TRUE(p.same(nll, kElementTol)) << gaussian << " " << variance;
    p.cpu.likelihood_forward(lik, lv.cpu, out.cpu, x.cpu, rows, n, dim, nll.cpu, grad.cpu, 0.3f);
    p.gpu.likelihood_forward(lik, lv.gpu, out.gpu, x.gpu, rows, n, dim, nll.gpu, grad.gpu, 0.3f);
    EXPECT_TRUE(p.same(nll, kElementTol)) << gaussian << " " << variance;
    EXPECT_TRUE(p.same(grad, kElementTol)) << gaussian << " " << variance;
  }
}

TEST(CudaPrimitives, CombineSamplesMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  for (int objective : {VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE}) {
    Primitives p(primitive_config(12));
    const int64_t n = 7, samples = 3;
    const Pair nll = p.input(testing::uniform(static_cast<size_t>(n * samples), 11, 5.0f, 15.0f));
    const Pair kl = p.input(testing::uniform(static_cast<size_t>(n), 12, 0.5f, 3.0f));
    const Pair kl_sample = p.input(testing::uniform(static_cast<size_t>(n * samples), 13, -2.0f, 4.0f));
    const Pair weight = p.take(static_cast<size_t>(n * samples));
    const Pair row_loss = p.take(static_cast<size_t>(n));
    p.cpu.combine_samples(objective, n, samples, 0.7, nll.cpu, kl.cpu, kl_sample.cpu, weight.cpu,
                          row_loss.cpu);
    p.gpu.combine_samples(objective, n, samples, 0.7, nll.gpu, kl.gpu, kl_sample.gpu, weight.gpu,
                          row_loss.gpu);
    EXPECT_TRUE(p.same(weight, kElementTol)) << objective;
    EXPECT_TRUE(p.same(row_loss, kElementTol)) << objective;
  }
}

TEST(CudaPrimitives, LikelihoodBackwardMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const int64_t dim = 77, n = 6, samples = 3, rows = n * samples;
  struct Case {
    bool gaussian;
    int variance;
    bool log_variance_gradient;
  };
  const std::vector<Case> cases = {{false, VAE_VARIANCE_FIXED, false},
                                   {true, VAE_VARIANCE_FIXED, false},
                                   {true, VAE_VARIANCE_LEARNED_SHARED, true},
                                   {true, VAE_VARIANCE_LEARNED_SHARED, false},
                                   {true, VAE_VARIANCE_LEARNED_PER_DIM, true},
                                   {true, VAE_VARIANCE_DECODER, false}};
  for (const Case& k : cases) {
    Primitives p(primitive_config(dim));
    const Likelihood lik = likelihood(k.gaussian, k.variance);
    const size_t width = static_cast<size_t>(lik.width(dim));
    const Pair x = p.input(k.gaussian ? testing::uniform(static_cast<size_t>(n * dim), 14)
                                      : testing::binary(static_cast<size_t>(n * dim), 14));
    const Pair out = p.input(testing::normal(static_cast<size_t>(rows) * width, 15));
    const Pair lv = p.input(testing::uniform(static_cast<size_t>(dim), 16, -0.5f, 0.5f));
    const Pair weight = p.input(testing::uniform(static_cast<size_t>(rows), 17, 0.1f, 1.0f));
    const Pair dout = p.take(static_cast<size_t>(rows) * width);
    const Pair nll = p.take(static_cast<size_t>(rows));
    const size_t lv_count = k.variance == VAE_VARIANCE_LEARNED_SHARED ? 1 : static_cast<size_t>(dim);
    const Pair dlv = p.input(std::vector<float>(lv_count, 9.0f));
    // The backward pass scales the derivatives the forward pass wrote.
    p.cpu.likelihood_forward(lik, lv.cpu, out.cpu, x.cpu, rows, n, dim, nll.cpu, dout.cpu, 1.0f);
    p.gpu.likelihood_forward(lik, lv.gpu, out.gpu, x.gpu, rows, n, dim, nll.gpu, dout.gpu, 1.0f);
    p.cpu.likelihood_backward(lik, lv.cpu, out.cpu, x.cpu, weight.cpu, rows, n, n, dim, true,
                              dout.cpu, k.log_variance_gradient ? dlv.cpu : nullptr);
    p.gpu.likelihood_backward(lik, lv.gpu, out.gpu, x.gpu, weight.gpu, rows, n, n, dim, true,
                              dout.gpu, k.log_variance_gradient ? dlv.gpu : nullptr);
    EXPECT_TRUE(p.same(dout, kElementTol)) << k.gaussian << " " << k.variance;
    EXPECT_TRUE(p.same(dlv, kElementTol)) << k.gaussian << " " << k.variance;
  }
}

TEST(CudaPrimitives, LatentBackwardMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  for (int objective : {VAE_OBJECTIVE_ELBO, VAE_OBJECTIVE_IWAE}) {
    Primitives p(primitive_config(12));
    const int64_t n = 5, samples = 3, latent = 4;
    const size_t rz = static_cast<size_t>(n * samples * latent);
    const Pair mu_logvar = p.input(testing::uniform(static_cast<size_t>(n * 2 * latent), 18, -1.0f, 1.0f));
    const Pair eps = p.input(testing::normal(rz, 19));
    const Pair z = p.input(testing::normal(rz, 20));
    const Pair dz = p.input(testing::normal(rz, 21));
    const Pair weight = p.input(testing::uniform(static_cast<size_t>(n * samples), 22, 0.1f, 1.0f));
    const Pair d = p.take(static_cast<size_t>(n * 2 * latent));
    p.cpu.latent_backward(objective, n, n, samples, latent, 0.8, mu_logvar.cpu, eps.cpu, z.cpu,
                          nullptr, dz.cpu, weight.cpu, d.cpu);
    p.gpu.latent_backward(objective, n, n, samples, latent, 0.8, mu_logvar.gpu, eps.gpu, z.gpu,
                          nullptr, dz.gpu, weight.gpu, d.gpu);
    EXPECT_TRUE(p.same(d, kElementTol)) << objective;
  }
}

TEST(CudaPrimitives, MeanMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  for (int64_t n : {1, 7, 300, 1000}) {
    Primitives p(primitive_config(12));
    const Pair v = p.input(testing::uniform(static_cast<size_t>(n), 23, 50.0f, 150.0f));
    const Pair out = p.take(1);
    p.cpu.mean(v.cpu, n, out.cpu);
    p.gpu.mean(v.gpu, n, out.gpu);
    EXPECT_TRUE(p.same(out, kElementTol)) << n;
  }
}

// The step's verdict, as both backends reach it.
template <class Ops>
bool step_is_bad(const Ops& ops, const float* loss, const float* g, size_t begin, size_t end) {
  ops.begin_step();
  ops.check_step(loss, g, begin, end);
  return ops.read_step_state().bad != 0;
}

TEST(CudaPrimitives, CheckStepMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const size_t count = 5000;
  const Pair loss = p.input({1.5f});
  const Pair g = p.input(testing::normal(count, 24));
  EXPECT_FALSE(step_is_bad(p.gpu, loss.gpu, g.gpu, 0, count));
  EXPECT_FALSE(step_is_bad(p.gpu, loss.gpu, g.gpu, 100, 100));  // an empty range: the loss alone
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float bad : {nan, inf, -inf}) {
    auto values = testing::normal(count, 24);
    values[4321] = bad;
    p.set(g, values);
    EXPECT_EQ(step_is_bad(p.gpu, loss.gpu, g.gpu, 0, count),
              step_is_bad(p.cpu, loss.cpu, g.cpu, 0, count));
    EXPECT_TRUE(step_is_bad(p.gpu, loss.gpu, g.gpu, 4000, count));
    // Outside the range it does not count.
    EXPECT_FALSE(step_is_bad(p.gpu, loss.gpu, g.gpu, 0, 4321));
    EXPECT_FALSE(step_is_bad(p.gpu, loss.gpu, g.gpu, 4322, count));
  }
  p.set(g, testing::normal(count, 24));
  p.set(loss, {nan});
  EXPECT_TRUE(step_is_bad(p.gpu, loss.gpu, g.gpu, 0, count));
  EXPECT_TRUE(step_is_bad(p.cpu, loss.cpu, g.cpu, 0, count));
}

// Adam's constants computed on the device, one launch over a range that
// crosses the encoder/decoder split, then the counters; and nothing at all
// for a bad step.
TEST(CudaPrimitives, AdamAndTheStepCountersMatchCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const size_t count = 3000;
  const Pair param = p.input(testing::uniform(count, 25, -1.0f, 1.0f));
  const Pair g = p.input(testing::normal(count, 26));
  const Pair m = p.input(testing::uniform(count, 27, -0.1f, 0.1f));
  const Pair v = p.input(testing::uniform(count, 28, 0.001f, 0.1f));
  const Pair loss = p.input({2.0f});
  StepState start{};
  start.steps = 7;
  start.encoder_steps = 2;
  start.decoder_steps = 5;
  const AdamSettings settings{1e-3, 0.9, 0.999, 1e-8};
  for (bool bad : {false, true}) {
    p.cpu.write_step_state(start);
    p.gpu.write_step_state(start);
    if (bad) p.set(loss, {std::numeric_limits<float>::infinity()});
    const auto before = p.device(param);
    struct Side {
      float *param, *g, *m, *v, *loss;
    };
    auto step = [&](const auto& ops, const Side& side) {
      ops.begin_step();
      ops.check_step(side.loss, side.g, 17, 2500);
      ops.begin_update(settings);
      ops.adam(side.param, side.g, side.m, side.v, 17, 1200, 2500);
      ops.end_step(VAE_UPDATE_ALL, 6, side.loss, true);
    };
    step(p.cpu, Side{param.cpu, g.cpu, m.cpu, v.cpu, loss.cpu});
    step(p.gpu, Side{param.gpu, g.gpu, m.gpu, v.gpu, loss.gpu});
    EXPECT_TRUE(p.same(param, kElementTol));
    EXPECT_TRUE(p.same(m, kElementTol));
    EXPECT_TRUE(p.same(v, kElementTol));
    const StepState cpu = p.cpu.read_step_state(), gpu = p.gpu.read_step_state();
    EXPECT_EQ(gpu.steps, cpu.steps);
    EXPECT_EQ(gpu.encoder_steps, cpu.encoder_steps);
    EXPECT_EQ(gpu.decoder_steps, cpu.decoder_steps);
    EXPECT_EQ(gpu.skipped, cpu.skipped);
    EXPECT_EQ(gpu.cursor, 6);
    EXPECT_EQ(gpu.loss_rows, cpu.loss_rows);
    EXPECT_EQ(gpu.loss_sum, cpu.loss_sum);
    EXPECT_EQ(gpu.skipped, bad ? 1 : 0);
    EXPECT_EQ(gpu.steps, bad ? 7 : 8);
    if (bad) {
      EXPECT_EQ(p.device(param), before);
    }
  }
}

TEST(CudaPrimitives, OutputMeanMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  // 37 rows of 27 dimensions; with the decoder's variance the output rows
  // are 54 wide and the means their first 27.
  for (int variance : {-1, int{VAE_VARIANCE_FIXED}, int{VAE_VARIANCE_DECODER}}) {
    Primitives p(primitive_config(12));
    const Likelihood lik = likelihood(variance >= 0, variance < 0 ? VAE_VARIANCE_FIXED : variance);
    const int64_t rows = 37, dim = 27;
    const Pair out = p.input(testing::normal(static_cast<size_t>(rows * lik.width(dim)), 29));
    const Pair mean = p.take(static_cast<size_t>(rows * dim));
    p.cpu.output_mean(lik, out.cpu, rows, dim, mean.cpu);
    p.gpu.output_mean(lik, out.gpu, rows, dim, mean.gpu);
    EXPECT_TRUE(p.same(mean, kElementTol)) << variance;
    if (variance == VAE_VARIANCE_DECODER) {
      EXPECT_EQ(mean.cpu[dim], out.cpu[2 * dim]);  // row 1's first mean
    }
  }
}

TEST(CudaPrimitives, SplitAndFillMatchCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const int64_t n = 11, latent = 5;
  const Pair mu_logvar = p.input(testing::normal(static_cast<size_t>(n * 2 * latent), 52));
  const Pair mu = p.take(static_cast<size_t>(n * latent));
  const Pair logvar = p.take(static_cast<size_t>(n * latent));
  p.cpu.split_mu_logvar(mu_logvar.cpu, n, latent, mu.cpu, logvar.cpu);
  p.gpu.split_mu_logvar(mu_logvar.gpu, n, latent, mu.gpu, logvar.gpu);
  EXPECT_EQ(p.device(mu), p.host(mu));
  EXPECT_EQ(p.device(logvar), p.host(logvar));

  const Pair filled = p.take(333);
  p.cpu.fill(filled.cpu, 333, -2.5f);
  p.gpu.fill(filled.gpu, 333, -2.5f);
  EXPECT_EQ(p.device(filled), p.host(filled));
}

TEST(CudaPrimitives, GatherRowsMatchesCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const int64_t rows = 23, dim = 19, n = 6, first = 9;
  const auto floats = testing::uniform(static_cast<size_t>(rows * dim), 60);
  const auto u = testing::uniform(static_cast<size_t>(rows * dim), 61, 0.0f, 255.99f);
  std::vector<uint8_t> bytes(u.size());
  for (size_t e = 0; e < u.size(); ++e) bytes[e] = static_cast<uint8_t>(u[e]);
  bytes[0] = 0;
  bytes[1] = 255;
  const NoiseKey key{3, 11, NoiseStream::kBytes, 0};
  const NoiseKey shuffle{3, 4, NoiseStream::kShuffle, 0};
  for (int transform = -1; transform <= static_cast<int>(ByteTransform::kDequantize); ++transform) {
    const bool is_bytes = transform >= 0;
    Primitives p(primitive_config(dim));
    const void* data = is_bytes ? static_cast<const void*>(bytes.data()) : floats.data();
    auto ds_cpu = p.cpu.make_dataset(data, rows, dim, is_bytes, false);
    auto ds_gpu = p.gpu.make_dataset(data, rows, dim, is_bytes, false);
    for (Dataset* ds : {ds_cpu.get(), ds_gpu.get()}) {
      ds->rows = rows;
      ds->dim = dim;
      ds->bytes = is_bytes;
      ds->transform = is_bytes ? static_cast<ByteTransform>(transform) : ByteTransform::kScale;
    }
    // The device's radix sort draws the host's permutation exactly.
    p.cpu.shuffle(*ds_cpu, shuffle);
    p.gpu.shuffle(*ds_gpu, shuffle);
    // The sort runs on the trainer's non-blocking stream, which the legacy
    // stream's cudaMemcpy does not wait for.
    p.gpu.synchronize();
    std::vector<int64_t> order(static_cast<size_t>(rows));
    ASSERT_EQ(cudaMemcpy(order.data(), ds_gpu->order, sizeof(int64_t) * order.size(),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(order, std::vector<int64_t>(ds_cpu->order, ds_cpu->order + rows));
    // An epoch's step: rows from the state's cursor on, noise keyed by its step count.
    StepState epoch{};
    epoch.cursor = first;
    epoch.steps = 11;
    p.cpu.write_step_state(epoch);
    p.gpu.write_step_state(epoch);
    for (bool shuffled : {false, true}) {
      const Pair x = p.take(static_cast<size_t>(n * dim));
      p.cpu.gather_rows(*ds_cpu, shuffled ? 0 : first, n, key,
                        shuffled ? p.cpu.step_state() : nullptr, x.cpu);
      p.gpu.gather_rows(*ds_gpu, shuffled ? 0 : first, n, key,
                        shuffled ? p.gpu.step_state() : nullptr, x.gpu);
      // The transforms are exact in float: the same bits on both backends.
      EXPECT_EQ(p.device(x), p.host(x)) << "transform " << transform << " shuffled " << shuffled;
    }
  }
}

}  // namespace
}  // namespace vae
