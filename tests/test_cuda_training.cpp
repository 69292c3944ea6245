// The CUDA backend's training without host synchronization against the CPU
// backend: epochs replayed from captured graphs (the permutation drawn on the
// device), steps skipped and reported later, the caller's stream and the
// ordering against the legacy default stream. And CudaSanitizerSweep: one
// pass that reaches every kernel (odd sizes, K > 1, both likelihoods, a
// decoder-predicted variance, a learned prior, a scheduled rate and clipped
// steps, an epoch), the filter bench/gpu_check.sh runs under
// compute-sanitizer. Every test skips itself where there is no CUDA device.
#include <gtest/gtest.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda_test_support.h"
#if defined(VAE_CUDA_SIMULATOR)
#include "cudasim/inspect.h"
#endif
#include "error.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::DeviceArray;
using testing::from_device;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;
using testing::to_device;

constexpr double kStepTol = 1e-4;

std::vector<uint8_t> random_bytes(size_t count, uint32_t seed) {
  const auto u = testing::uniform(count, seed, 0.0f, 255.99f);
  std::vector<uint8_t> y(count);
  for (size_t e = 0; e < count; ++e) y[e] = static_cast<uint8_t>(u[e]);
  return y;
}

// Two epochs of 23 rows in batches of 5 (four full steps and a partial one,
// so two captured graphs), bytes binarized on the way: the device's
// permutation, noise and Adam give what the CPU gives.
TEST(CudaEpoch, ReplayedEpochsMatchTheCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(13, 3, {7, 5}, 6);
  c.samples = 2;
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu = make_cpu_trainer_impl(c);
  const auto y = random_bytes(23 * 13, 90);
  auto ds_gpu = gpu->create_dataset(y.data(), 23, VAE_BYTES_BINARIZE);
  auto ds_cpu = cpu->create_dataset(y.data(), 23, VAE_BYTES_BINARIZE);
  for (int epoch = 0; epoch < 2; ++epoch) {
    float lg = 0, lc = 0;
    gpu->train_epoch(*ds_gpu, 5, &lg);
    cpu->train_epoch(*ds_cpu, 5, &lc);
    EXPECT_NEAR(lg, lc, kStepTol * std::fabs(lc)) << "epoch " << epoch;
  }
  std::vector<int64_t> order(23);
  ASSERT_EQ(cudaMemcpy(order.data(), ds_gpu->order, sizeof(int64_t) * 23, cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(order, std::vector<int64_t>(ds_cpu->order, ds_cpu->order + 23));
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                    cpu->read_state(StateBuffer::kParameters), kStepTol));
  EXPECT_EQ(gpu->counters().steps, 10);
  EXPECT_EQ(gpu->counters().epochs, 2);
}

// A seed gives the same bits on every run, graphs or not: two trainers, and
// an epoch's steps against the same steps queued one by one from the host.
TEST(CudaEpoch, ReplaysAreBitIdentical) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7, 5}, 6);
  auto a = make_cuda_trainer_impl(c);
  auto b = make_cuda_trainer_impl(c);
  const auto x = testing::binary(18 * 12, 91);
  auto da = a->create_dataset(x.data(), 18);
  auto db = b->create_dataset(x.data(), 18);
  for (int epoch = 0; epoch < 3; ++epoch) {
    a->train_epoch(*da, 6, nullptr);
    b->train_epoch(*db, 6, nullptr);
  }
  EXPECT_EQ(a->read_state(StateBuffer::kParameters), b->read_state(StateBuffer::kParameters));
  EXPECT_EQ(a->read_state(StateBuffer::kAdamSecondMoment),
            b->read_state(StateBuffer::kAdamSecondMoment));
}

// Live options reach captured steps: the replayed graph reads the new
// learning rate and KL weight from the device.
TEST(CudaEpoch, ALiveOptionChangeReachesTheNextStep) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7}, 6);
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu = make_cpu_trainer_impl(c);
  const auto x = testing::binary(12 * 12, 92);
  auto dg = gpu->create_dataset(x.data(), 12);
  auto dc = cpu->create_dataset(x.data(), 12);
  gpu->train_epoch(*dg, 6, nullptr);
  cpu->train_epoch(*dc, 6, nullptr);
  for (Trainer* t : {static_cast<Trainer*>(gpu.get()), static_cast<Trainer*>(cpu.get())}) {
    t->set_float(VAE_OPT_LEARNING_RATE, 0.05);
    t->set_float(VAE_OPT_KL_WEIGHT, 0.25);
  }
  gpu->train_epoch(*dg, 6, nullptr);
  cpu->train_epoch(*dc, 6, nullptr);
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                    cpu->read_state(StateBuffer::kParameters), kStepTol));
}

// A KL warm-up and a learning-rate schedule that change both values before
// every one of 100 steps: one capture, replayed with the new values each
// time (they live in the device's StepSettings, not in the graph), and the
// same parameters as the CPU backend under the same schedule. A change of
// the update mode, which the launches themselves take, captures anew.
// (The first step of a shape runs eagerly; its second is captured.)
TEST(CudaGraphs, ValuesThatChangeEveryStepKeepTheCapturedStep) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7}, 6);
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu = make_cpu_trainer_impl(c);
  const auto x = testing::binary(6 * 12, 97);
  const int64_t before = gpu->ops().graphs_captured();
  for (int step = 0; step < 100; ++step) {
    for (Trainer* t : {static_cast<Trainer*>(gpu.get()), static_cast<Trainer*>(cpu.get())}) {
      t->set_float(VAE_OPT_KL_WEIGHT, 0.01 * (step + 1));
      t->set_float(VAE_OPT_LEARNING_RATE, 1e-3 * (1.0 + 0.02 * step));
      t->train_step(x.data(), 6, nullptr);
    }
  }
  EXPECT_EQ(gpu->ops().graphs_captured() - before, 1);
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                    cpu->read_state(StateBuffer::kParameters), 1e-3));
  // The new shape runs eagerly once, then is captured.
  gpu->set_int(VAE_OPT_UPDATE, VAE_UPDATE_DECODER);
  gpu->train_step(x.data(), 6, nullptr);
  EXPECT_EQ(gpu->ops().graphs_captured() - before, 1);
  gpu->train_step(x.data(), 6, nullptr);
  EXPECT_EQ(gpu->ops().graphs_captured() - before, 2);
}

// A batch size used once runs eagerly; the one that keeps coming back is
// captured once and keeps its graph however many one-off sizes pass between
// its steps (least recently used, not first in first out, and one-offs never
// take a slot). The steps end where the CPU backend's do.
TEST(CudaGraphs, OneOffSizesRunEagerlyAndTheRepeatedOneKeepsItsGraph) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7}, 40);
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu = make_cpu_trainer_impl(c);
  const auto x = testing::binary(40 * 12, 99);
  const int64_t before = gpu->ops().graphs_captured();
  for (int64_t n = 1; n <= 30; ++n) {
    for (Trainer* t : {static_cast<Trainer*>(gpu.get()), static_cast<Trainer*>(cpu.get())}) {
      t->train_step(x.data(), 40, nullptr);
      t->train_step(x.data(), n, nullptr);
    }
  }
  EXPECT_EQ(gpu->ops().graphs_captured() - before, 1);
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                    cpu->read_state(StateBuffer::kParameters), 1e-3));
}

// The step is captured on the trainer's own non-blocking stream even when
// the caller's is a blocking one: the legacy stream's work waits for
// blocking streams, so another thread's use of it would invalidate a
// capture there (cudaErrorStreamCaptureImplicit, which the simulator gives
// as CUDA does). The simulator tells where each capture began.
TEST(CudaStreams, ABlockingCallerStreamIsNotWhereTheStepIsCaptured) {
#if !defined(VAE_CUDA_SIMULATOR)
  GTEST_SKIP() << "watches where captures begin through the simulated device";
#else
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7}, 6);
  auto gpu = make_cuda_trainer_impl(c);
  cudaStream_t blocking = nullptr;
  ASSERT_EQ(cudaStreamCreate(&blocking), cudaSuccess);
  gpu->set_cuda_stream(blocking);
  const auto x = testing::binary(6 * 12, 98);
  std::vector<std::pair<cudaStream_t, unsigned int>> captures;
  cudasim::set_capture_observer(
      [&](cudaStream_t s, unsigned int flags) { captures.emplace_back(s, flags); });
  // Three shapes, each run eagerly, then captured, then replayed.
  for (int64_t n = 4; n <= 6; ++n) {
    for (int repeat = 0; repeat < 3; ++repeat) gpu->train_step(x.data(), n, nullptr);
  }
  cudasim::set_capture_observer({});
  ASSERT_EQ(captures.size(), 3u);
  for (const auto& [stream, flags] : captures) {
    EXPECT_NE(stream, blocking);
    EXPECT_EQ(flags & cudaStreamNonBlocking, static_cast<unsigned int>(cudaStreamNonBlocking));
  }
  // And a legacy-stream use during a capture on the blocking stream is refused.
  DeviceArray scratch(16);
  ASSERT_EQ(cudaStreamBeginCapture(blocking, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaMemsetAsync(scratch.raw(), 0, 16, cudaStreamLegacy),
            cudaErrorStreamCaptureImplicit);
  cudaGraph_t graph = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(blocking, &graph), cudaErrorStreamCaptureInvalidated);
  static_cast<void>(cudaGetLastError());
  gpu->set_cuda_stream(nullptr);
  EXPECT_EQ(cudaStreamDestroy(blocking), cudaSuccess);
#endif
}

// A step queued without a loss pointer is skipped on the device and
// reported by the next waiting call, as on the CPU (test_step_skipping.cpp).
TEST(CudaSkip, AStepIsSkippedOnTheDeviceAndReportedLater) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(12, 3, {7}, 6);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_LEARNED_SHARED;
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu = make_cpu_trainer_impl(c);
  const auto good = testing::normal(6 * 12, 93);
  const std::vector<float> bad(6 * 12, 1e30f);
  const auto d_bad = to_device(bad);
  gpu->train_step(good.data(), 6, nullptr);
  cpu->train_step(good.data(), 6, nullptr);
  const auto before = gpu->read_state(StateBuffer::kParameters);
  gpu->train_step(d_bad->as<float>(), 6, nullptr);
  EXPECT_EQ(gpu->read_state(StateBuffer::kParameters), before);
  EXPECT_EQ(gpu->counters().skipped_steps, 1);
  float loss = 0;
  EXPECT_THROW(gpu->train_step(good.data(), 6, &loss), Error);
  cpu->train_step(good.data(), 6, &loss);
  EXPECT_EQ(gpu->counters().steps, 2);
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                    cpu->read_state(StateBuffer::kParameters), kStepTol));
}

// An owned stream of the test's.
class TestStream {
 public:
  TestStream() { EXPECT_EQ(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), cudaSuccess); }
  ~TestStream() { static_cast<void>(cudaStreamDestroy(s_)); }
  TestStream(const TestStream&) = delete;
  TestStream& operator=(const TestStream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// Input written on the caller's stream (or the legacy default stream) and
// not waited for is read after it is written: the results are those of a
// trainer given the same rows from the host.
TEST(CudaStreams, CallerMemoryIsOrderedAfterTheCallersWork) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  Config c = testing::small_config(64, 4, {32}, 64);
  const int64_t n = 64;
  const auto x = testing::binary(static_cast<size_t>(n * c.input_dim), 94);
  void* staging = nullptr;
  ASSERT_EQ(cudaMallocHost(&staging, sizeof(float) * x.size()), cudaSuccess);
  auto* pinned = static_cast<float*>(staging);
  std::copy(x.begin(), x.end(), pinned);
  DeviceArray dx(sizeof(float) * x.size());
  auto reference = make_cuda_trainer_impl(c);
  float want = 0;
  reference->train_step(x.data(), n, &want);
  TestStream stream;
  for (bool own_stream : {false, true}) {
    auto t = make_cuda_trainer_impl(c);
    if (own_stream) t->set_cuda_stream(stream.get());
    cudaStream_t writer = own_stream ? stream.get() : cudaStreamLegacy;
    ASSERT_EQ(cudaMemsetAsync(dx.raw(), 0, sizeof(float) * x.size(), writer), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(dx.raw(), pinned, sizeof(float) * x.size(), cudaMemcpyHostToDevice,
                              writer),
              cudaSuccess);
    float got = 0;
    t->train_step(dx.as<float>(), n, &got);
    EXPECT_EQ(got, want) << (own_stream ? "caller's stream" : "legacy default stream");
    if (own_stream) t->set_cuda_stream(nullptr);
  }
  static_cast<void>(cudaFreeHost(pinned));
}

TEST(CudaStreams, TheLegacyStreamAndAnotherDevicesStreamAreRefused) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  auto t = make_cuda_trainer_impl(testing::small_config());
  try {
    t->set_cuda_stream(cudaStreamLegacy);
    FAIL() << "the legacy stream was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), VAE_ERROR_INVALID_ARGUMENT);
  }
  t->set_cuda_stream(cudaStreamPerThread);
  const auto x = testing::binary(6 * 12, 95);
  float loss = 0;
  t->train_step(x.data(), 6, &loss);
  EXPECT_TRUE(std::isfinite(loss));
  t->set_cuda_stream(nullptr);
}

// ---------------------------------------------------------------------------
// CudaSanitizerSweep: every kernel once, for compute-sanitizer.

struct SweepCase {
  const char* name;
  int64_t dim, latent;
  std::vector<int64_t> hidden;
  int likelihood, variance, objective, activation;
  int64_t samples;
  int transform;  // VAE_BYTES_*, or -1 for a float dataset
  int64_t prior_components = 0;  // VAE_OPT_PRIOR_COMPONENTS: the prior's kernels
  int64_t condition_dim = 0;     // VAE_OPT_CONDITION_DIM: the conditions' kernels
};

void PrintTo(const SweepCase& k, std::ostream* os) { *os << k.name; }

class CudaSanitizerSweep : public ::testing::TestWithParam<SweepCase> {};

TEST_P(CudaSanitizerSweep, ReachesEveryKernel) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const SweepCase& k = GetParam();
  Config c = testing::small_config(k.dim, k.latent, k.hidden, 7);
  c.backend = VAE_BACKEND_CUDA;
  c.likelihood = k.likelihood;
  c.variance = k.variance;
  c.objective = k.objective;
  c.activation = k.activation;
  c.samples = k.samples;
  c.prior_components = k.prior_components;
  c.condition_dim = k.condition_dim;
  c.lr_schedule = VAE_SCHEDULE_COSINE;  // a scheduled rate and clipped steps, every case
  c.warmup_steps = 2;
  c.decay_steps = 6;
  c.clip_norm = 0.5;
  auto t = Trainer::create(c);
  const int64_t n = 7, rows = 19;
  const bool gaussian = k.likelihood == VAE_LIKELIHOOD_GAUSSIAN;
  const auto x = gaussian ? testing::uniform(static_cast<size_t>(rows * k.dim), 96)
                          : testing::binary(static_cast<size_t>(rows * k.dim), 96);
  const auto dx = to_device(x);
  // A conditional model's conditions, on the host and on the device (null
  // for the others).
  const auto conditions = testing::uniform(static_cast<size_t>(rows * k.condition_dim), 98);
  const auto device_conditions = to_device(conditions);
  const float* hc = k.condition_dim > 0 ? conditions.data() : nullptr;
  const float* dc = k.condition_dim > 0 ? device_conditions->as<float>() : nullptr;
  float loss = 0;
  t->train_step(x.data(), n, &loss, hc);                // host rows through the pinned staging
  t->train_step(dx->as<float>(), n - 2, nullptr, dc);   // device rows, no wait
  t->train_step(dx->as<float>(), 3, &loss, dc);
  EXPECT_TRUE(std::isfinite(loss));

  std::vector<float> out(static_cast<size_t>(rows * k.dim));
  t->evaluate(x.data(), rows, out.data(), out.data() + rows, out.data() + 2 * rows, hc);
  t->log_likelihood(x.data(), rows, 5, VAE_ESTIMATOR_PRIOR, out.data(), hc);
  t->log_likelihood(dx->as<float>(), rows, 5, VAE_ESTIMATOR_IMPORTANCE, out.data(), dc);
  // Chunks of one tile, each row's 700 samples cut by them: the carried
  // accumulators (src/evaluation.h).
  t->set_int(VAE_OPT_EVAL_ROWS, 1);
  t->log_likelihood(x.data(), 3, 700, VAE_ESTIMATOR_IMPORTANCE, out.data(), hc);
  t->set_int(VAE_OPT_EVAL_ROWS, 0);
  std::vector<float> mu(static_cast<size_t>(rows * k.latent)), lv(mu.size());
  t->encode(x.data(), rows, mu.data(), lv.data(), hc);
  t->decode(mu.data(), rows, out.data(), hc);
  t->sample(rows, out.data(), hc);

  std::unique_ptr<Dataset> ds;
  const auto y = random_bytes(static_cast<size_t>(rows * k.dim), 97);
  ds = k.transform >= 0 ? t->create_dataset(y.data(), rows, k.transform)
                        : t->create_dataset(x.data(), rows);
  if (k.condition_dim > 0) {
    std::vector<uint8_t> labels(static_cast<size_t>(rows));
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % k.condition_dim);
    t->set_dataset_labels(*ds, labels.data(), rows);
  }
  float mean = 0;
  t->train_epoch(*ds, 5, &mean);  // full and partial graphs
  t->train_epoch(*ds, 5, &mean);  // replays
  EXPECT_TRUE(std::isfinite(mean));
  double e = 0, r = 0, kl = 0, lp = 0;
  t->evaluate_dataset(*ds, &e, &r, &kl);
  t->log_likelihood_dataset(*ds, 3, VAE_ESTIMATOR_IMPORTANCE, &lp);
  EXPECT_TRUE(std::isfinite(e) && std::isfinite(lp));

  const std::string path = testing::temp_path(std::string("sweep_") + k.name + ".safetensors");
  t->save(path);
  auto loaded = Trainer::load(path, VAE_BACKEND_CUDA);
  std::remove(path.c_str());
  EXPECT_EQ(loaded->read_state(StateBuffer::kParameters), t->read_state(StateBuffer::kParameters));
  t->set_int(VAE_OPT_TF32, 1);
  t->train_step(x.data(), n, &loss, hc);
  EXPECT_TRUE(std::isfinite(loss));
}

INSTANTIATE_TEST_SUITE_P(
    Models, CudaSanitizerSweep,
    ::testing::Values(
        SweepCase{"BernoulliTanhElboK3", 13, 3, {7, 5}, VAE_LIKELIHOOD_BERNOULLI,
                  VAE_VARIANCE_FIXED, VAE_OBJECTIVE_ELBO, VAE_ACTIVATION_TANH, 3,
                  VAE_BYTES_BINARIZE},
        SweepCase{"GaussianPerDimReluIwaeK2Conditional3", 17, 4, {9}, VAE_LIKELIHOOD_GAUSSIAN,
                  VAE_VARIANCE_LEARNED_PER_DIM, VAE_OBJECTIVE_IWAE, VAE_ACTIVATION_RELU, 2,
                  VAE_BYTES_DEQUANTIZE, 0, 3},
        SweepCase{"GaussianSharedNoHiddenK1", 11, 2, {}, VAE_LIKELIHOOD_GAUSSIAN,
                  VAE_VARIANCE_LEARNED_SHARED, VAE_OBJECTIVE_ELBO, VAE_ACTIVATION_RELU, 1, -1},
        SweepCase{"GaussianDecoderReluElboK2Mixture3", 13, 3, {7}, VAE_LIKELIHOOD_GAUSSIAN,
                  VAE_VARIANCE_DECODER, VAE_OBJECTIVE_ELBO, VAE_ACTIVATION_RELU, 2,
                  VAE_BYTES_DEQUANTIZE, 3}),
    [](const ::testing::TestParamInfo<SweepCase>& param_info) {
      return std::string(param_info.param.name);
    });

}  // namespace
}  // namespace vae
