// The benchmark models' shapes (bench/RESULTS.md: S 784-400-20 batch 128,
// M 784-[1024,1024]-64 batch 1024, L 784-[2048,2048]-128 batch 8192, ReLU,
// Bernoulli) on the device, where the other CUDA suites use small odd sizes:
// the padded layout's cuBLASLt epilogues, the grids and the column
// reductions at the sizes training runs them. S and M against the CPU
// backend under the same noise; L, too costly for the CPU in a test, against
// itself: the gradient of the mean over its 8192 rows is the mean of the
// gradients of its eight 1024-row chunks, and its Adam step moves every
// parameter as torch.optim.Adam's first step does with that gradient. On the
// simulated device (VAE_CUDA_SIMULATOR), whose GEMMs are plain loops, L is
// scaled down (batch 512 in chunks of 64, hidden 320-192, latent 48): the
// same launches and reductions at sizes the CPU runs in seconds. Every test
// skips itself where there is no CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda_test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;

constexpr int64_t kInput = 784;
constexpr double kTol = 1e-4;  // sums of up to 8192 terms in another order

Config shape_config(std::vector<int64_t> hidden, int64_t latent, int64_t batch) {
  Config c = testing::small_config(kInput, latent, std::move(hidden), batch);
  c.activation = VAE_ACTIVATION_RELU;
  return c;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

TEST(CudaShapes, SAndMMatchCpuUnderTheSameNoise) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  struct Shape {
    const char* name;
    std::vector<int64_t> hidden;
    int64_t latent, batch;
  };
  for (const Shape& s : {Shape{"S", {400}, 20, 128}, Shape{"M", {1024, 1024}, 64, 1024}}) {
    const Config c = shape_config(s.hidden, s.latent, s.batch);
    auto cpu = make_cpu_trainer_impl(c);
    auto gpu = make_cuda_trainer_impl(c);
    const auto x = testing::binary(static_cast<size_t>(s.batch * kInput), 7);
    const auto eps = testing::normal(static_cast<size_t>(s.batch * s.latent), 8);
    std::vector<double> g_cpu, g_gpu;
    const double l_cpu = cpu->loss_and_gradient(x.data(), s.batch, eps.data(), &g_cpu);
    const double l_gpu = gpu->loss_and_gradient(x.data(), s.batch, eps.data(), &g_gpu);
    EXPECT_GT(l_cpu, 100.0) << s.name;  // about 784 log 2 at the start: a real loss
    EXPECT_NEAR(l_gpu, l_cpu, kTol * std::fabs(l_cpu)) << s.name;
    EXPECT_TRUE(close(to_float(g_gpu), to_float(g_cpu), kTol)) << s.name;
  }
}

TEST(CudaShapes, LGradientIsTheMeanOfItsChunksAndAdamMovesEveryParameter) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
#if defined(VAE_CUDA_SIMULATOR)
  constexpr int64_t kBatch = 512, kChunk = 64, kLatent = 48;
  const Config c = shape_config({320, 192}, kLatent, kBatch);
#else
  constexpr int64_t kBatch = 8192, kChunk = 1024, kLatent = 128;
  const Config c = shape_config({2048, 2048}, kLatent, kBatch);
#endif
  auto gpu = make_cuda_trainer_impl(c);
  const auto x = testing::binary(static_cast<size_t>(kBatch * kInput), 9);
  const auto eps = testing::normal(static_cast<size_t>(kBatch * kLatent), 10);
  std::vector<double> whole;
  const double loss = gpu->loss_and_gradient(x.data(), kBatch, eps.data(), &whole);
  EXPECT_GT(loss, 100.0);
  // One sample per row: rows i of x and eps are row i's alone, so a chunk
  // of rows is a slice of both.
  std::vector<double> mean(whole.size(), 0.0);
  double mean_loss = 0;
  const int64_t chunks = kBatch / kChunk;
  for (int64_t q = 0; q < chunks; ++q) {
    std::vector<double> part;
    mean_loss += gpu->loss_and_gradient(x.data() + q * kChunk * kInput, kChunk,
                                        eps.data() + q * kChunk * kLatent, &part) /
                 static_cast<double>(chunks);
    ASSERT_EQ(part.size(), whole.size());
    for (size_t e = 0; e < part.size(); ++e) mean[e] += part[e] / static_cast<double>(chunks);
  }
  EXPECT_NEAR(loss, mean_loss, kTol * loss);
  EXPECT_TRUE(close(to_float(whole), to_float(mean), kTol));

  // The first Adam step with that gradient g: m = (1 - b1) g, v = (1 - b2) g^2,
  // p -= lr / (1 - b1) m / (sqrt(v) / sqrt(1 - b2) + eps), for every one of
  // the parameters (5.3 million on a GPU; the grid-stride launch over the
  // flat buffer).
  const std::vector<float> before = gpu->read_state(StateBuffer::kParameters);
  ASSERT_EQ(before.size(), whole.size());
  float step_loss = 0;
  gpu->train_step_with_noise(x.data(), kBatch, eps.data(), &step_loss);
  EXPECT_NEAR(step_loss, loss, 1e-6 * loss);
  const std::vector<float> after = gpu->read_state(StateBuffer::kParameters);
  const double b1 = c.adam_beta1, b2 = c.adam_beta2;
  size_t wrong = 0, moved = 0;
  for (size_t e = 0; e < whole.size(); ++e) {
    const double m = (1 - b1) * whole[e], v = (1 - b2) * whole[e] * whole[e];
    const double step = c.learning_rate / (1 - b1) * m /
                        (std::sqrt(v) / std::sqrt(1 - b2) + c.adam_epsilon);
    const double change = static_cast<double>(after[e]) - before[e];
    if (!(std::fabs(change + step) <= 1e-6)) ++wrong;
    if (change != 0) ++moved;
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_GT(moved, whole.size() / 2);  // ReLU leaves some gradients exactly zero, not most
}

}  // namespace
}  // namespace vae
