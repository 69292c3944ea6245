// The CUDA backend against its reference, the CPU backend: whole steps under
// the same injected noise, bit-identical runs from one seed, checkpoints
// that move between the backends, host and device pointers alike, and the
// CPU backend refusing device memory. Every test skips itself where there is
// no CUDA device.
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
#include "cuda_test_support.h"
#if defined(VAE_CUDA_SIMULATOR)
#include "cudasim/inspect.h"
#endif
#include "device_pointer.h"
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  c.samples = 2;
  auto cpu = make_cpu_trainer_impl(c);
  auto gpu = make_cuda_trainer_impl(c);
  const int64_t n = 14;  // more than one chunk of max_batch rows
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 72);
  testing::expect_evaluation_calls_match(*cpu, *gpu, c, x, n);
}

TEST(CudaTraining, HundredStepsFromOneSeedAreBitIdentical) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
    const std::string path =
        testing::temp_path("cuda_checkpoint_" + std::to_string(from) + ".safetensors");
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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

TEST(CudaWorkspace, EveryTrainingBufferStartsOn256Bytes) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  // Odd sizes, so that unpadded buffers would start anywhere.
  Config c = testing::small_config(37, 3, {29, 13}, 7);
  c.samples = 3;
  auto gpu = make_cuda_trainer_impl(c);
  const auto& b = gpu->network().buffers();
  std::vector<const float*> buffers = {b.params, b.grads,  b.adam_m, b.adam_v,   b.x,
                                       b.eps,    b.z,      b.kl,     b.kl_sample, b.nll,
                                       b.weight, b.row_loss, b.grad_a, b.grad_b, b.d_mu_logvar,
                                       b.loss};
  buffers.insert(buffers.end(), b.enc_out.begin(), b.enc_out.end());
  buffers.insert(buffers.end(), b.dec_out.begin(), b.dec_out.end());
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffers[i]) % 256, 0u) << "buffer " << i;
  }
  // The ranks sum the gradient and its tail as one buffer.
  EXPECT_EQ(b.share_tail, b.grads + gpu->network().layout().total);
}

// The caller rows' pinned staging buffer is made as the calls need it, not
// for max_batch x input_dim floats at once (a legal configuration may ask
// for gigabytes of it).
TEST(CudaWorkspace, PinnedStagingGrowsWithTheRowsCallsPass) {
#if !defined(VAE_CUDA_SIMULATOR)
  GTEST_SKIP() << "counts pinned memory through the simulated device";
#else
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(4096, 3, {8}, 4096);  // 64 MiB of rows per batch
  const size_t before = cudasim::pinned_bytes();
  auto gpu = make_cuda_trainer_impl(c);
  EXPECT_LT(cudasim::pinned_bytes() - before, size_t{1} << 20);
  const auto x = testing::binary(2 * 4096, 12);
  gpu->train_step(x.data(), 2, nullptr);
  EXPECT_GE(cudasim::pinned_bytes() - before, 2 * 4096 * sizeof(float));
  EXPECT_LT(cudasim::pinned_bytes() - before, size_t{1} << 20);
#endif
}

TEST(CudaPointers, PointerIsDeviceTellsMemoryApart) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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
    EXPECT_NE(std::string(e.what()).find("VAE_OPT_DEVICE is " + std::to_string(count)),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaDevice, Tf32StepsStayCloseToFp32) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
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

// Input the rule refuses (NaN, or outside [0, 1] for Bernoulli), from host
// or device memory: refused naming row and column where the call waits,
// skipped and counted where it does not; nothing changes either way.
TEST(CudaDevice, RefusedInputChangesNothing) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config();
  c.backend = VAE_BACKEND_CUDA;
  auto t = Trainer::create(c);
  auto x = testing::binary(6 * 12, 80);
  t->train_step(x.data(), 6, nullptr);
  const auto before = t->read_state(StateBuffer::kParameters);
  const auto m = t->read_state(StateBuffer::kAdamFirstMoment);
  x[5 * 12 + 7] = std::numeric_limits<float>::quiet_NaN();
  const auto dx = to_device(x);
  auto expect_refused = [&](const float* rows, const char* where) {
    float loss = -1.0f;
    try {
      t->train_step(rows, 6, &loss);
      FAIL() << "a NaN input was taken (" << where << ")";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), VAE_ERROR_INVALID_ARGUMENT) << where;
      EXPECT_NE(std::string(e.what()).find("row 5, column 7"), std::string::npos) << e.what();
    }
    EXPECT_EQ(loss, -1.0f);
  };
  expect_refused(x.data(), "host memory");
  expect_refused(dx->as<float>(), "device memory");
  // Queued without a loss pointer, device input is judged on the device.
  t->train_step(dx->as<float>(), 6, nullptr);
  EXPECT_EQ(t->read_state(StateBuffer::kParameters), before);
  EXPECT_EQ(t->read_state(StateBuffer::kAdamFirstMoment), m);
  EXPECT_EQ(t->counters().steps, 1);
  EXPECT_GE(t->counters().skipped_steps, 2);
  std::vector<float> elbo(6);
  try {
    t->evaluate(dx->as<float>(), 6, elbo.data(), nullptr, nullptr);
    FAIL() << "evaluate took a NaN input";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_INVALID_ARGUMENT);
  }
  x[5 * 12 + 7] = 1.5f;  // finite, outside the Bernoulli range
  EXPECT_THROW(t->create_dataset(x.data(), 6), Error);
}

}  // namespace
}  // namespace vae
