// The CUDA backend against its reference, the CPU backend: every primitive
// of CudaOps against CpuOps<float> on the same random inputs, whole steps
// under the same injected noise, bit-identical runs from one seed,
// checkpoints that move between the backends, host and device pointers
// alike, and the CPU backend refusing device memory. Every test skips itself
// where there is no CUDA device.
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

#include "backend_factory.h"
#include "cuda/cuda_ops.h"
#include "device_pointer.h"
#include "error.h"
#include "test_support.h"
#include "trainer_impl.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::CpuTrainerF;
using CudaTrainer = TrainerImpl<CudaOps>;

// ---------------------------------------------------------------------------
// Helpers.

std::unique_ptr<CudaTrainer> make_cuda_trainer_impl(Config c) {
  c.backend = VAE_BACKEND_CUDA;
  c.validate();
  return std::make_unique<CudaTrainer>(c, std::make_unique<CudaOps>(c));
}

std::unique_ptr<CpuTrainerF> make_cpu_trainer_impl(Config c) {
  c.backend = VAE_BACKEND_CPU;
  return testing::make_trainer<CpuTrainerF>(c);
}

// |got - want| <= tol max(1, |want|) for every element.
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& want,
                                 double tol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "sizes " << got.size() << " and " << want.size();
  }
  size_t bad = 0;
  size_t first = 0;
  double worst = 0;
  for (size_t e = 0; e < got.size(); ++e) {
    const double scale = std::max(1.0, std::fabs(static_cast<double>(want[e])));
    const double err = std::fabs(static_cast<double>(got[e]) - want[e]) / scale;
    if (!(err <= tol)) {
      if (bad == 0) first = e;
      ++bad;
      worst = std::max(worst, std::isnan(err) ? std::numeric_limits<double>::infinity() : err);
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements differ; first " << first << ": "
         << got[first] << " vs " << want[first] << ", worst relative error " << worst;
}

// A device allocation owned by a test.
class DeviceArray {
 public:
  explicit DeviceArray(size_t bytes) {
    EXPECT_EQ(cudaMalloc(&p_, std::max<size_t>(bytes, 1)), cudaSuccess);
  }
  ~DeviceArray() { static_cast<void>(cudaFree(p_)); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  void* raw() const { return p_; }

 private:
  void* p_ = nullptr;
};

template <class T>
std::unique_ptr<DeviceArray> to_device(const std::vector<T>& v) {
  auto d = std::make_unique<DeviceArray>(sizeof(T) * v.size());
  EXPECT_EQ(cudaMemcpy(d->raw(), v.data(), sizeof(T) * v.size(), cudaMemcpyHostToDevice),
            cudaSuccess);
  return d;
}

template <class T>
std::vector<T> from_device(const DeviceArray& d, size_t count) {
  std::vector<T> v(count);
  EXPECT_EQ(cudaMemcpy(v.data(), d.raw(), sizeof(T) * count, cudaMemcpyDeviceToHost),
            cudaSuccess);
  return v;
}

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
  Config c = testing::small_config(dim, 4, {7}, 8);
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
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const Pair out = p.take(1001);
  const NoiseKey key{7, 123456789012ull, NoiseStream::kPrior, 5};
  p.cpu.standard_normal(key, 1001, out.cpu);
  p.gpu.standard_normal(key, 1001, out.gpu);
  EXPECT_TRUE(p.same(out, kElementTol));
}

TEST(CudaPrimitives, LikelihoodForwardMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t dim = 301, n = 5, samples = 3, rows = n * samples;
  const std::vector<std::pair<bool, int>> cases = {{false, VAE_VARIANCE_FIXED},
                                                   {true, VAE_VARIANCE_FIXED},
                                                   {true, VAE_VARIANCE_LEARNED_SHARED},
                                                   {true, VAE_VARIANCE_LEARNED_PER_DIM}};
  for (const auto& [gaussian, variance] : cases) {
    Primitives p(primitive_config(dim));
    const Likelihood lik = likelihood(gaussian, variance);
    const Pair x = p.input(gaussian ? testing::uniform(static_cast<size_t>(n * dim), 8)
                                    : testing::binary(static_cast<size_t>(n * dim), 8));
    const Pair out = p.input(testing::normal(static_cast<size_t>(rows * dim), 9));
    const Pair lv = p.input(testing::uniform(static_cast<size_t>(dim), 10, -0.5f, 0.5f));
    const Pair nll = p.take(static_cast<size_t>(rows));
    const Pair grad = p.take(static_cast<size_t>(rows * dim));
    p.cpu.likelihood_forward(lik, lv.cpu, out.cpu, x.cpu, rows, n, dim, nll.cpu, nullptr);
    p.gpu.likelihood_forward(lik, lv.gpu, out.gpu, x.gpu, rows, n, dim, nll.gpu, nullptr);
    EXPECT_TRUE(p.same(nll, kElementTol)) << gaussian << " " << variance;
    p.cpu.likelihood_forward(lik, lv.cpu, out.cpu, x.cpu, rows, n, dim, nll.cpu, grad.cpu);
    p.gpu.likelihood_forward(lik, lv.gpu, out.gpu, x.gpu, rows, n, dim, nll.gpu, grad.gpu);
    EXPECT_TRUE(p.same(nll, kElementTol)) << gaussian << " " << variance;
    EXPECT_TRUE(p.same(grad, kElementTol)) << gaussian << " " << variance;
  }
}

TEST(CudaPrimitives, CombineSamplesMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
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
                                   {true, VAE_VARIANCE_LEARNED_PER_DIM, true}};
  for (const Case& k : cases) {
    Primitives p(primitive_config(dim));
    const Likelihood lik = likelihood(k.gaussian, k.variance);
    const Pair x = p.input(k.gaussian ? testing::uniform(static_cast<size_t>(n * dim), 14)
                                      : testing::binary(static_cast<size_t>(n * dim), 14));
    const Pair out = p.input(testing::normal(static_cast<size_t>(rows * dim), 15));
    const Pair lv = p.input(testing::uniform(static_cast<size_t>(dim), 16, -0.5f, 0.5f));
    const Pair weight = p.input(testing::uniform(static_cast<size_t>(rows), 17, 0.1f, 1.0f));
    const Pair dout = p.take(static_cast<size_t>(rows * dim));
    const Pair nll = p.take(static_cast<size_t>(rows));
    const size_t lv_count = k.variance == VAE_VARIANCE_LEARNED_SHARED ? 1 : static_cast<size_t>(dim);
    const Pair dlv = p.input(std::vector<float>(lv_count, 9.0f));
    // The backward pass scales the derivatives the forward pass wrote.
    p.cpu.likelihood_forward(lik, lv.cpu, out.cpu, x.cpu, rows, n, dim, nll.cpu, dout.cpu);
    p.gpu.likelihood_forward(lik, lv.gpu, out.gpu, x.gpu, rows, n, dim, nll.gpu, dout.gpu);
    p.cpu.likelihood_backward(lik, lv.cpu, out.cpu, x.cpu, weight.cpu, rows, n, dim, dout.cpu,
                              k.log_variance_gradient ? dlv.cpu : nullptr);
    p.gpu.likelihood_backward(lik, lv.gpu, out.gpu, x.gpu, weight.gpu, rows, n, dim, dout.gpu,
                              k.log_variance_gradient ? dlv.gpu : nullptr);
    EXPECT_TRUE(p.same(dout, kElementTol)) << k.gaussian << " " << k.variance;
    EXPECT_TRUE(p.same(dlv, kElementTol)) << k.gaussian << " " << k.variance;
  }
}

TEST(CudaPrimitives, LatentBackwardMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
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
    p.cpu.latent_backward(objective, n, samples, latent, 0.8, mu_logvar.cpu, eps.cpu, z.cpu,
                          dz.cpu, weight.cpu, d.cpu);
    p.gpu.latent_backward(objective, n, samples, latent, 0.8, mu_logvar.gpu, eps.gpu, z.gpu,
                          dz.gpu, weight.gpu, d.gpu);
    EXPECT_TRUE(p.same(d, kElementTol)) << objective;
  }
}

TEST(CudaPrimitives, MeanMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  for (int64_t n : {1, 7, 300, 1000}) {
    Primitives p(primitive_config(12));
    const Pair v = p.input(testing::uniform(static_cast<size_t>(n), 23, 50.0f, 150.0f));
    const Pair out = p.take(1);
    p.cpu.mean(v.cpu, n, out.cpu);
    p.gpu.mean(v.gpu, n, out.gpu);
    EXPECT_TRUE(p.same(out, kElementTol)) << n;
  }
}

TEST(CudaPrimitives, AllFiniteMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const size_t count = 5000;
  const Pair loss = p.input({1.5f});
  const Pair g = p.input(testing::normal(count, 24));
  float returned = 0.0f;
  EXPECT_TRUE(p.gpu.all_finite(loss.gpu, g.gpu, 0, count, &returned));
  EXPECT_EQ(returned, 1.5f);
  EXPECT_TRUE(p.gpu.all_finite(loss.gpu, g.gpu, 100, 100, nullptr));  // an empty range: the loss alone
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float bad : {nan, inf, -inf}) {
    auto values = testing::normal(count, 24);
    values[4321] = bad;
    p.set(g, values);
    EXPECT_EQ(p.gpu.all_finite(loss.gpu, g.gpu, 0, count, nullptr), p.cpu.all_finite(loss.cpu, g.cpu, 0, count, nullptr));
    EXPECT_FALSE(p.gpu.all_finite(loss.gpu, g.gpu, 4000, count, nullptr));
    // Outside the range it does not count.
    EXPECT_TRUE(p.gpu.all_finite(loss.gpu, g.gpu, 0, 4321, nullptr));
    EXPECT_TRUE(p.gpu.all_finite(loss.gpu, g.gpu, 4322, count, nullptr));
  }
  p.set(g, testing::normal(count, 24));
  p.set(loss, {nan});
  EXPECT_FALSE(p.gpu.all_finite(loss.gpu, g.gpu, 0, count, nullptr));
  EXPECT_FALSE(p.cpu.all_finite(loss.cpu, g.cpu, 0, count, nullptr));
}

TEST(CudaPrimitives, AdamMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const size_t count = 3000;
  const Pair param = p.input(testing::uniform(count, 25, -1.0f, 1.0f));
  const Pair g = p.input(testing::normal(count, 26));
  const Pair m = p.input(testing::uniform(count, 27, -0.1f, 0.1f));
  const Pair v = p.input(testing::uniform(count, 28, 0.001f, 0.1f));
  AdamStep s;
  s.beta1 = 0.9;
  s.beta2 = 0.999;
  s.epsilon = 1e-8;
  s.step_size = 1e-3 / (1.0 - std::pow(0.9, 3.0));
  s.bias2_sqrt = std::sqrt(1.0 - std::pow(0.999, 3.0));
  p.cpu.adam(param.cpu, g.cpu, m.cpu, v.cpu, 17, 2500, s);
  p.gpu.adam(param.gpu, g.gpu, m.gpu, v.gpu, 17, 2500, s);
  EXPECT_TRUE(p.same(param, kElementTol));
  EXPECT_TRUE(p.same(m, kElementTol));
  EXPECT_TRUE(p.same(v, kElementTol));
}

TEST(CudaPrimitives, OutputMeanMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  for (bool gaussian : {false, true}) {
    Primitives p(primitive_config(12));
    const Pair out = p.input(testing::normal(999, 29));
    const Likelihood lik = likelihood(gaussian, VAE_VARIANCE_FIXED);
    p.cpu.output_mean(lik, out.cpu, 999);
    p.gpu.output_mean(lik, out.gpu, 999);
    EXPECT_TRUE(p.same(out, kElementTol)) << gaussian;
  }
}

TEST(CudaPrimitives, LogMeanExpMatchesCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
    Primitives p(primitive_config(12));
    const int64_t n = 9, samples = 4;
    const Pair top = p.take(static_cast<size_t>(n));
    const Pair sum = p.take(static_cast<size_t>(n));
    p.cpu.fill(top.cpu, n, -INFINITY);
    p.gpu.fill(top.gpu, n, -INFINITY);
    p.cpu.fill(sum.cpu, n, 0.0f);
    p.gpu.fill(sum.gpu, n, 0.0f);
    for (uint32_t chunk = 0; chunk < 3; ++chunk) {
      const Pair nll = p.input(testing::uniform(static_cast<size_t>(n * samples), 30 + chunk, 20.0f, 60.0f));
      const Pair kl_sample = p.input(testing::uniform(static_cast<size_t>(n * samples), 40 + chunk, -5.0f, 5.0f));
      p.cpu.accumulate_log_weights(estimator, n, samples, nll.cpu, kl_sample.cpu, top.cpu, sum.cpu);
      p.gpu.accumulate_log_weights(estimator, n, samples, nll.gpu, kl_sample.gpu, top.gpu, sum.gpu);
    }
    EXPECT_TRUE(p.same(top, kElementTol)) << estimator;
    EXPECT_TRUE(p.same(sum, kElementTol)) << estimator;
    const Pair out = p.take(static_cast<size_t>(n));
    p.cpu.finish_log_mean_exp(n, 3 * samples, top.cpu, sum.cpu, out.cpu);
    p.gpu.finish_log_mean_exp(n, 3 * samples, top.gpu, sum.gpu, out.gpu);
    EXPECT_TRUE(p.same(out, kElementTol)) << estimator;
  }
}

TEST(CudaPrimitives, ElboTermsSplitAndFillMatchCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Primitives p(primitive_config(12));
  const int64_t n = 11, samples = 3, latent = 5;
  const Pair nll = p.input(testing::uniform(static_cast<size_t>(n * samples), 50, 5.0f, 15.0f));
  const Pair kl = p.input(testing::uniform(static_cast<size_t>(n), 51, 0.5f, 3.0f));
  const Pair rec = p.take(static_cast<size_t>(n));
  const Pair elbo = p.take(static_cast<size_t>(n));
  p.cpu.elbo_terms(n, samples, nll.cpu, kl.cpu, rec.cpu, elbo.cpu);
  p.gpu.elbo_terms(n, samples, nll.gpu, kl.gpu, rec.gpu, elbo.gpu);
  EXPECT_TRUE(p.same(rec, kElementTol));
  EXPECT_TRUE(p.same(elbo, kElementTol));

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
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t rows = 23, dim = 19, n = 6, first = 9;
  const auto floats = testing::uniform(static_cast<size_t>(rows * dim), 60);
  const auto u = testing::uniform(static_cast<size_t>(rows * dim), 61, 0.0f, 255.99f);
  std::vector<uint8_t> bytes(u.size());
  for (size_t e = 0; e < u.size(); ++e) bytes[e] = static_cast<uint8_t>(u[e]);
  bytes[0] = 0;
  bytes[1] = 255;
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937(62));
  const NoiseKey key{3, 11, NoiseStream::kBytes, 0};
  for (int transform = -1; transform <= static_cast<int>(ByteTransform::kDequantize); ++transform) {
    const bool is_bytes = transform >= 0;
    Primitives p(primitive_config(dim));
    const void* data = is_bytes ? static_cast<const void*>(bytes.data()) : floats.data();
    auto ds_cpu = p.cpu.make_dataset(data, rows, dim, is_bytes, false);
    auto ds_gpu = p.gpu.make_dataset(data, rows, dim, is_bytes);
    for (Dataset* ds : {ds_cpu.get(), ds_gpu.get()}) {
      ds->rows = rows;
      ds->dim = dim;
      ds->bytes = is_bytes;
      ds->transform = is_bytes ? static_cast<ByteTransform>(transform) : ByteTransform::kScale;
    }
    p.cpu.upload_order(*ds_cpu, order);
    p.gpu.upload_order(*ds_gpu, order);
    for (bool shuffled : {false, true}) {
      const Pair x = p.take(static_cast<size_t>(n * dim));
      p.cpu.gather_rows(*ds_cpu, first, n, shuffled, key, x.cpu);
      p.gpu.gather_rows(*ds_gpu, first, n, shuffled, key, x.gpu);
      // The transforms are exact in float: the same bits on both backends.
      EXPECT_EQ(p.device(x), p.host(x)) << "transform " << transform << " shuffled " << shuffled;
    }
  }
}

// ---------------------------------------------------------------------------
// Whole steps.

struct StepCase {
  int likelihood;
  int variance;
  int objective;
  int64_t samples;
};

void PrintTo(const StepCase& k, std::ostream* os) {
  *os << (k.likelihood == VAE_LIKELIHOOD_GAUSSIAN ? "Gaussian" : "Bernoulli") << " variance "
      << k.variance << (k.objective == VAE_OBJECTIVE_IWAE ? " IWAE" : " ELBO") << " K"
      << k.samples;
}

std::string step_case_name(const ::testing::TestParamInfo<StepCase>& info) {
  const StepCase& k = info.param;
  std::string name = k.likelihood == VAE_LIKELIHOOD_GAUSSIAN ? "Gaussian" : "Bernoulli";
  if (k.likelihood == VAE_LIKELIHOOD_GAUSSIAN) {
    name += k.variance == VAE_VARIANCE_LEARNED_PER_DIM  ? "PerDim"
            : k.variance == VAE_VARIANCE_LEARNED_SHARED ? "Shared"
                                                        : "Fixed";
  }
  name += k.objective == VAE_OBJECTIVE_IWAE ? "Iwae" : "Elbo";
  return name + "K" + std::to_string(k.samples);
}

class CudaStep : public ::testing::TestWithParam<StepCase> {};

TEST_P(CudaStep, MatchesCpuUnderTheSameNoise) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  const StepCase& k = GetParam();
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  c.likelihood = k.likelihood;
  c.variance = k.variance;
  c.objective = k.objective;
  c.samples = k.samples;
  c.learning_rate = 1e-3;
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  ASSERT_EQ(gpu->read_state(StateBuffer::kParameters), cpu->read_state(StateBuffer::kParameters));
  const int64_t n = 6;
  const auto x = k.likelihood == VAE_LIKELIHOOD_GAUSSIAN
                     ? testing::uniform(static_cast<size_t>(n * c.input_dim), 70)
                     : testing::binary(static_cast<size_t>(n * c.input_dim), 70);
  for (uint32_t step = 0; step < 4; ++step) {
    const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 80 + step);
    float loss_cpu = 0, loss_gpu = 0;
    cpu->train_step_with_noise(x.data(), n, eps.data(), &loss_cpu);
    gpu->train_step_with_noise(x.data(), n, eps.data(), &loss_gpu);
    EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * std::max(1.0f, std::fabs(loss_cpu))) << "step " << step;
  }
  for (StateBuffer b : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                        StateBuffer::kAdamSecondMoment}) {
    EXPECT_TRUE(close(gpu->read_state(b), cpu->read_state(b), 1e-4)) << static_cast<int>(b);
  }
  // The gradient of one more step, without the update.
  const auto eps = testing::normal(static_cast<size_t>(n * c.samples * c.latent_dim), 90);
  std::vector<double> g_cpu, g_gpu;
  const double l_cpu = cpu->loss_and_gradient(x.data(), n, eps.data(), &g_cpu);
  const double l_gpu = gpu->loss_and_gradient(x.data(), n, eps.data(), &g_gpu);
  EXPECT_NEAR(l_gpu, l_cpu, 1e-4 * std::max(1.0, std::fabs(l_cpu)));
  ASSERT_EQ(g_gpu.size(), g_cpu.size());
  double scale = 0;
  for (double v : g_cpu) scale = std::max(scale, std::fabs(v));
  for (size_t e = 0; e < g_cpu.size(); ++e) {
    EXPECT_NEAR(g_gpu[e], g_cpu[e], 1e-4 * std::max(1.0, scale)) << "gradient " << e;
  }
}

INSTANTIATE_TEST_SUITE_P(
    LikelihoodsAndObjectives, CudaStep,
    ::testing::Values(StepCase{VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 1},
                      StepCase{VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, 3},
                      StepCase{VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED, VAE_OBJECTIVE_IWAE, 3},
                      StepCase{VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM,
                               VAE_OBJECTIVE_ELBO, 1},
                      StepCase{VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM,
                               VAE_OBJECTIVE_ELBO, 3},
                      StepCase{VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_PER_DIM,
                               VAE_OBJECTIVE_IWAE, 3},
                      StepCase{VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_LEARNED_SHARED,
                               VAE_OBJECTIVE_IWAE, 3}),
    step_case_name);

TEST(CudaTraining, UpdateModesAndReluMatchCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  for (int update : {VAE_UPDATE_ENCODER, VAE_UPDATE_DECODER, VAE_UPDATE_ALL}) {
    Config c = testing::small_config(12, 3, {9}, 6);
    c.activation = VAE_ACTIVATION_RELU;
    c.update = update;
    auto cpu = make_cpu_trainer_impl(c);
    auto gpu = make_cuda_trainer_impl(c);
    const auto x = testing::binary(6 * 12, 71);
    for (uint32_t step = 0; step < 3; ++step) {
      const auto eps = testing::normal(6 * 3, 100 + step);
      float loss_cpu = 0, loss_gpu = 0;
      cpu->train_step_with_noise(x.data(), 6, eps.data(), &loss_cpu);
      gpu->train_step_with_noise(x.data(), 6, eps.data(), &loss_gpu);
      EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * std::max(1.0f, std::fabs(loss_cpu)));
    }
    EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                      cpu->read_state(StateBuffer::kParameters), 1e-4))
        << update;
    EXPECT_EQ(gpu->counters().encoder_steps, cpu->counters().encoder_steps);
    EXPECT_EQ(gpu->counters().decoder_steps, cpu->counters().decoder_steps);
  }
}

TEST(CudaTraining, EvaluationCallsMatchCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  c.samples = 2;
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const int64_t n = 14;  // more than one chunk of max_batch rows
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 72);
  const size_t rows = static_cast<size_t>(n);
  std::vector<float> a(rows), b(rows), r1(rows), r2(rows), k1(rows), k2(rows);
  cpu->evaluate(x.data(), n, a.data(), r1.data(), k1.data());
  gpu->evaluate(x.data(), n, b.data(), r2.data(), k2.data());
  EXPECT_TRUE(close(b, a, 1e-4));
  EXPECT_TRUE(close(r2, r1, 1e-4));
  EXPECT_TRUE(close(k2, k1, 1e-4));
  for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
    cpu->log_likelihood(x.data(), n, 25, estimator, a.data());
    gpu->log_likelihood(x.data(), n, 25, estimator, b.data());
    EXPECT_TRUE(close(b, a, 1e-4)) << estimator;
  }
  const size_t zc = rows * static_cast<size_t>(c.latent_dim);
  std::vector<float> mu1(zc), mu2(zc), lv1(zc), lv2(zc);
  cpu->encode(x.data(), n, mu1.data(), lv1.data());
  gpu->encode(x.data(), n, mu2.data(), lv2.data());
  EXPECT_TRUE(close(mu2, mu1, 1e-5));
  EXPECT_TRUE(close(lv2, lv1, 1e-5));
  const size_t xc = rows * static_cast<size_t>(c.input_dim);
  std::vector<float> m1(xc), m2(xc);
  cpu->decode(mu1.data(), n, m1.data());
  gpu->decode(mu1.data(), n, m2.data());
  EXPECT_TRUE(close(m2, m1, 1e-5));
  cpu->sample(n, m1.data());
  gpu->sample(n, m2.data());
  EXPECT_TRUE(close(m2, m1, 1e-5));
}

TEST(CudaTraining, HundredStepsFromOneSeedAreBitIdentical) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(40, 4, {64, 32}, 32);
  c.backend = VAE_BACKEND_CUDA;
  c.samples = 2;
  c.objective = VAE_OBJECTIVE_IWAE;
  auto a = Trainer::create(c);
  auto b = Trainer::create(c);
  const auto x = testing::binary(32 * 40, 73);
  for (int step = 0; step < 100; ++step) {
    float la = 0, lb = 0;
    a->train_step(x.data(), 32, &la);
    b->train_step(x.data(), 32, &lb);
    ASSERT_EQ(la, lb) << "step " << step;
  }
  for (StateBuffer s : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                        StateBuffer::kAdamSecondMoment}) {
    EXPECT_EQ(a->read_state(s), b->read_state(s));
  }
  // Epochs over a byte dataset (gather, shuffle and dequantization on the device).
  const auto u = testing::uniform(50 * 40, 74, 0.0f, 255.99f);
  std::vector<uint8_t> bytes(u.size());
  for (size_t e = 0; e < u.size(); ++e) bytes[e] = static_cast<uint8_t>(u[e]);
  auto da = a->create_dataset(bytes.data(), 50, VAE_BYTES_DEQUANTIZE);
  auto db = b->create_dataset(bytes.data(), 50, VAE_BYTES_DEQUANTIZE);
  float ma = 0, mb = 0;
  for (int epoch = 0; epoch < 2; ++epoch) {
    a->train_epoch(*da, 16, &ma);
    b->train_epoch(*db, 16, &mb);
    EXPECT_EQ(ma, mb);
  }
  EXPECT_EQ(a->read_state(StateBuffer::kParameters), b->read_state(StateBuffer::kParameters));
}

TEST(CudaTraining, DatasetEpochsMatchCpu) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(16, 3, {24}, 8);
  const auto u = testing::uniform(30 * 16, 75, 0.0f, 255.99f);
  std::vector<uint8_t> bytes(u.size());
  for (size_t e = 0; e < u.size(); ++e) bytes[e] = static_cast<uint8_t>(u[e]);
  for (int transform : {VAE_BYTES_SCALE, VAE_BYTES_BINARIZE, VAE_BYTES_DEQUANTIZE}) {
    Config k = c;
    if (transform != VAE_BYTES_BINARIZE) {
      k.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
      k.variance = VAE_VARIANCE_LEARNED_SHARED;
    }
    auto cpu = make_cpu_trainer_impl(k);
    auto gpu = make_cuda_trainer_impl(k);
    auto dc = cpu->create_dataset(bytes.data(), 30, transform);
    auto dg = gpu->create_dataset(bytes.data(), 30, transform);
    float lc = 0, lg = 0;
    cpu->train_epoch(*dc, 7, &lc);
    gpu->train_epoch(*dg, 7, &lg);
    EXPECT_NEAR(lg, lc, 1e-4 * std::max(1.0f, std::fabs(lc))) << transform;
    double ec = 0, eg = 0;
    cpu->evaluate_dataset(*dc, &ec, nullptr, nullptr);
    gpu->evaluate_dataset(*dg, &eg, nullptr, nullptr);
    EXPECT_NEAR(eg, ec, 1e-4 * std::max(1.0, std::fabs(ec))) << transform;
    cpu->log_likelihood_dataset(*dc, 4, VAE_ESTIMATOR_IMPORTANCE, &ec);
    gpu->log_likelihood_dataset(*dg, 4, VAE_ESTIMATOR_IMPORTANCE, &eg);
    EXPECT_NEAR(eg, ec, 1e-4 * std::max(1.0, std::fabs(ec))) << transform;
  }
}

// ---------------------------------------------------------------------------
// Checkpoints between the backends.

void train_steps(Trainer& t, const std::vector<float>& x, int64_t n, int steps) {
  for (int s = 0; s < steps; ++s) t.train_step(x.data(), n, nullptr);
}

TEST(CudaCheckpoint, SavedOnCudaContinuesOnCpuAndBack) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(16, 3, {24}, 8);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  c.samples = 2;
  const auto x = testing::uniform(8 * 16, 76);
  for (int from : {VAE_BACKEND_CUDA, VAE_BACKEND_CPU}) {
    const int to = from == VAE_BACKEND_CUDA ? VAE_BACKEND_CPU : VAE_BACKEND_CUDA;
    Config k = c;
    k.backend = from;
    auto original = Trainer::create(k);
    train_steps(*original, x, 8, 5);
    const std::string path = ::testing::TempDir() + "/vae_cuda_checkpoint_" +
                             std::to_string(from) + ".safetensors";
    original->save(path);
    auto moved = Trainer::load(path, to);
    std::remove(path.c_str());
    EXPECT_EQ(moved->counters().steps, 5);
    for (StateBuffer s : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                          StateBuffer::kAdamSecondMoment}) {
      EXPECT_EQ(moved->read_state(s), original->read_state(s)) << "from " << from;
    }
    train_steps(*original, x, 8, 5);
    train_steps(*moved, x, 8, 5);
    for (StateBuffer s : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                          StateBuffer::kAdamSecondMoment}) {
      EXPECT_TRUE(close(moved->read_state(s), original->read_state(s), 1e-4))
          << "from " << from << " buffer " << static_cast<int>(s);
    }
  }
}

// ---------------------------------------------------------------------------
// Host and device pointers.

TEST(CudaPointers, HostAndDeviceMemoryGiveTheSameResults) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  c.backend = VAE_BACKEND_CUDA;
  c.samples = 2;
  auto host = Trainer::create(c);
  auto device = Trainer::create(c);
  const int64_t n = 6;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 77);
  const auto dx = to_device(x);
  for (int step = 0; step < 3; ++step) {
    float lh = 0, ld = 0;
    host->train_step(x.data(), n, &lh);
    device->train_step(dx->as<float>(), n, &ld);
    EXPECT_EQ(lh, ld);
  }
  EXPECT_EQ(host->read_state(StateBuffer::kParameters),
            device->read_state(StateBuffer::kParameters));

  const size_t rows = static_cast<size_t>(n);
  std::vector<float> elbo(rows), rec(rows), kl(rows);
  DeviceArray d_elbo(rows * sizeof(float)), d_rec(rows * sizeof(float)), d_kl(rows * sizeof(float));
  host->evaluate(x.data(), n, elbo.data(), rec.data(), kl.data());
  device->evaluate(dx->as<float>(), n, d_elbo.as<float>(), d_rec.as<float>(), d_kl.as<float>());
  EXPECT_EQ(from_device<float>(d_elbo, rows), elbo);
  EXPECT_EQ(from_device<float>(d_rec, rows), rec);
  EXPECT_EQ(from_device<float>(d_kl, rows), kl);

  std::vector<float> lp(rows);
  DeviceArray d_lp(rows * sizeof(float));
  host->log_likelihood(x.data(), n, 5, VAE_ESTIMATOR_IMPORTANCE, lp.data());
  device->log_likelihood(dx->as<float>(), n, 5, VAE_ESTIMATOR_IMPORTANCE, d_lp.as<float>());
  EXPECT_EQ(from_device<float>(d_lp, rows), lp);

  const size_t zc = rows * static_cast<size_t>(c.latent_dim);
  std::vector<float> mu(zc), lv(zc);
  DeviceArray d_mu(zc * sizeof(float)), d_lv(zc * sizeof(float));
  host->encode(x.data(), n, mu.data(), lv.data());
  device->encode(dx->as<float>(), n, d_mu.as<float>(), d_lv.as<float>());
  EXPECT_EQ(from_device<float>(d_mu, zc), mu);
  EXPECT_EQ(from_device<float>(d_lv, zc), lv);

  const size_t xc = rows * static_cast<size_t>(c.input_dim);
  std::vector<float> mean(xc);
  DeviceArray d_mean(xc * sizeof(float));
  host->decode(mu.data(), n, mean.data());
  device->decode(d_mu.as<float>(), n, d_mean.as<float>());
  EXPECT_EQ(from_device<float>(d_mean, xc), mean);

  const auto count = host->parameter_count();
  std::vector<float> p(static_cast<size_t>(count));
  DeviceArray d_p(p.size() * sizeof(float));
  host->get_parameters(p.data(), count);
  device->get_parameters(d_p.as<float>(), count);
  EXPECT_EQ(from_device<float>(d_p, p.size()), p);
  for (float& v : p) v *= 0.5f;
  const auto dp = to_device(p);
  device->set_parameters(dp->as<float>(), count);
  EXPECT_EQ(device->read_state(StateBuffer::kParameters), p);
}

TEST(CudaPointers, PointerIsDeviceTellsMemoryApart) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  std::vector<float> host(4);
  DeviceArray device(16);
  EXPECT_FALSE(pointer_is_device(host.data()));
  EXPECT_FALSE(pointer_is_device(nullptr));
  EXPECT_TRUE(pointer_is_device(device.as<float>()));
  void* managed = nullptr;
  ASSERT_EQ(cudaMallocManaged(&managed, 16), cudaSuccess);
  EXPECT_TRUE(pointer_is_device(managed));
  cudaFree(managed);
}

TEST(CudaPointers, CpuBackendRefusesDevicePointers) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  vae_config* config = nullptr;
  ASSERT_EQ(vae_config_create(&config), VAE_OK);
  ASSERT_EQ(vae_config_set_int(config, VAE_OPT_INPUT_DIM, 8), VAE_OK);
  ASSERT_EQ(vae_config_set_int(config, VAE_OPT_LATENT_DIM, 2), VAE_OK);
  ASSERT_EQ(vae_config_set_int(config, VAE_OPT_MAX_BATCH, 4), VAE_OK);
  ASSERT_EQ(vae_config_set_int(config, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(config, &t), VAE_OK);
  const auto x = testing::binary(4 * 8, 78);
  const auto dx = to_device(x);
  EXPECT_EQ(vae_train_step(t, dx->as<float>(), 4, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_last_error()).find("device memory"), std::string::npos)
      << vae_last_error();
  DeviceArray out(4 * sizeof(float));
  EXPECT_EQ(vae_evaluate(t, x.data(), 4, out.as<float>(), nullptr, nullptr),
            VAE_ERROR_INVALID_ARGUMENT);
  int64_t steps = -1;
  EXPECT_EQ(vae_get_int(t, VAE_OPT_STEPS, &steps), VAE_OK);
  EXPECT_EQ(steps, 0);
  vae_destroy(t);
  vae_config_destroy(config);
}

// ---------------------------------------------------------------------------
// Devices and options.

TEST(CudaDevice, OutOfRangeOrdinalIsADeviceError) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  Config c = testing::small_config();
  c.backend = VAE_BACKEND_CUDA;
  c.device = count;
  try {
    make_cuda_trainer(c);
    FAIL() << "a trainer on device " << count << " of " << count;
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_DEVICE);
    EXPECT_NE(std::string(e.what()).find("no CUDA device is available"), std::string::npos)
        << e.what();
  }
}

TEST(CudaDevice, Tf32StepsStayCloseToFp32) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(64, 4, {96}, 16);
  c.backend = VAE_BACKEND_CUDA;
  auto fp32 = Trainer::create(c);
  auto tf32 = Trainer::create(c);
  tf32->set_int(VAE_OPT_TF32, 1);
  const auto x = testing::binary(16 * 64, 79);
  float l32 = 0, l19 = 0;
  for (int step = 0; step < 5; ++step) {
    fp32->train_step(x.data(), 16, &l32);
    tf32->train_step(x.data(), 16, &l19);
  }
  EXPECT_TRUE(std::isfinite(l19));
  EXPECT_NEAR(l19, l32, 1e-2 * std::fabs(l32));
}

TEST(CudaDevice, NonFiniteStepChangesNothing) {
  if (!vae::cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config();
  c.backend = VAE_BACKEND_CUDA;
  auto t = Trainer::create(c);
  auto x = testing::binary(6 * 12, 80);
  t->train_step(x.data(), 6, nullptr);
  const auto before = t->read_state(StateBuffer::kParameters);
  const auto m = t->read_state(StateBuffer::kAdamFirstMoment);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  try {
    t->train_step(x.data(), 6, nullptr);
    FAIL() << "a NaN input gave a finite step";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_NUMERICAL);
  }
  EXPECT_EQ(t->read_state(StateBuffer::kParameters), before);
  EXPECT_EQ(t->read_state(StateBuffer::kAdamFirstMoment), m);
  EXPECT_EQ(t->counters().steps, 1);
}

}  // namespace
}  // namespace vae
