// Helpers of the CUDA test suites: trainers of either backend, a relative
// comparison, and device arrays owned by a test.
#pragma once

#include <gtest/gtest.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_ops.h"
#include "test_support.h"
#include "trainer_impl.h"

namespace vae::testing {

using CudaTrainer = TrainerImpl<CudaOps>;

// Whether a GPU is present, asked of the backend linked into the test rather
// than through libvae_cuda.so: where the module fails to load, the tests that
// make trainers through it fail instead of skipping.
inline bool gpu_present() { return cuda_backend::device_count(nullptr) > 0; }

inline std::unique_ptr<CudaTrainer> make_cuda_trainer_impl(Config c) {
  c.backend = VAE_BACKEND_CUDA;
  c.validate();
  return std::make_unique<CudaTrainer>(c, std::make_unique<CudaOps>(c));
}

inline std::unique_ptr<CpuTrainerF> make_cpu_trainer_impl(Config c) {
  c.backend = VAE_BACKEND_CPU;
  return testing::make_trainer<CpuTrainerF>(c);
}

// |got - want| <= tol max(1, |want|) for every element.
inline ::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& want,
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

// The parameters and both Adam moments of two trainers, CUDA against CPU,
// within 1e-4 relative.
inline void expect_states_match(const Trainer& cpu, const Trainer& gpu) {
  for (StateBuffer b : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                        StateBuffer::kAdamSecondMoment}) {
    EXPECT_TRUE(close(gpu.read_state(b), cpu.read_state(b), 1e-4)) << static_cast<int>(b);
  }
}

// The loss and gradient of n rows of x (and their conditions) under noise
// eps, without an update, CUDA against CPU: within 1e-4 of the gradient's
// largest element.
inline void expect_gradients_match(Trainer& cpu, Trainer& gpu, const std::vector<float>& x,
                                   int64_t n, const std::vector<float>& eps,
                                   const float* condition = nullptr) {
  std::vector<double> g_cpu, g_gpu;
  const double l_cpu = cpu.loss_and_gradient(x.data(), n, eps.data(), &g_cpu, condition);
  const double l_gpu = gpu.loss_and_gradient(x.data(), n, eps.data(), &g_gpu, condition);
  EXPECT_NEAR(l_gpu, l_cpu, 1e-4 * std::max(1.0, std::fabs(l_cpu)));
  ASSERT_EQ(g_gpu.size(), g_cpu.size());
  double scale = 0;
  for (double v : g_cpu) scale = std::max(scale, std::fabs(v));
  for (size_t e = 0; e < g_cpu.size(); ++e) {
    EXPECT_NEAR(g_gpu[e], g_cpu[e], 1e-4 * std::max(1.0, scale)) << "gradient " << e;
  }
}

// The evaluation calls on n rows of x (and, for a conditional model, their
// conditions), CUDA against CPU (two trainers of config c holding the same
// parameters): vae_evaluate's three columns and both estimators within
// 1e-4, encode, decode (of the CPU's means) and sample within 1e-5.
inline void expect_evaluation_calls_match(Trainer& cpu, Trainer& gpu, const Config& c,
                                          const std::vector<float>& x, int64_t n,
                                          const float* condition = nullptr) {
  const size_t rows = static_cast<size_t>(n);
  std::vector<float> a(rows), b(rows), r1(rows), r2(rows), k1(rows), k2(rows);
  cpu.evaluate(x.data(), n, a.data(), r1.data(), k1.data(), condition);
  gpu.evaluate(x.data(), n, b.data(), r2.data(), k2.data(), condition);
  EXPECT_TRUE(close(b, a, 1e-4));
  EXPECT_TRUE(close(r2, r1, 1e-4));
  EXPECT_TRUE(close(k2, k1, 1e-4));
  for (int estimator : {VAE_ESTIMATOR_PRIOR, VAE_ESTIMATOR_IMPORTANCE}) {
    cpu.log_likelihood(x.data(), n, 25, estimator, a.data(), condition);
    gpu.log_likelihood(x.data(), n, 25, estimator, b.data(), condition);
    EXPECT_TRUE(close(b, a, 1e-4)) << estimator;
  }
  const size_t zc = rows * static_cast<size_t>(c.latent_dim);
  std::vector<float> mu1(zc), mu2(zc), lv1(zc), lv2(zc);
  cpu.encode(x.data(), n, mu1.data(), lv1.data(), condition);
  gpu.encode(x.data(), n, mu2.data(), lv2.data(), condition);
  EXPECT_TRUE(close(mu2, mu1, 1e-5));
  EXPECT_TRUE(close(lv2, lv1, 1e-5));
  const size_t xc = rows * static_cast<size_t>(c.input_dim);
  std::vector<float> m1(xc), m2(xc);
  cpu.decode(mu1.data(), n, m1.data(), condition);
  gpu.decode(mu1.data(), n, m2.data(), condition);
  EXPECT_TRUE(close(m2, m1, 1e-5));
  cpu.sample(n, m1.data(), condition);
  gpu.sample(n, m2.data(), condition);
  EXPECT_TRUE(close(m2, m1, 1e-5));
}

}  // namespace vae::testing
