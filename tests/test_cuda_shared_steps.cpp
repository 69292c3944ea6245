// Steps shared through an allreduce hook on the CUDA backend, where the hook
// gets the trainer's device memory and stream: one rank (world size 1) whose
// hook leaves the buffer as it is (the sum over one rank) trains an epoch as
// the CPU backend does with the same hook, the tail written and read on the
// device; and vae_interrupt from the progress callback stops the shared
// epoch at the step where the CPU backend stops it (the request carried in
// the tail and read at the progress point). Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "counters.h"
#include "error.h"
#include "network.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::close;
using testing::make_cpu_trainer_impl;
using testing::make_cuda_trainer_impl;

constexpr double kStepTol = 1e-4;
constexpr int64_t kRows = 48;
constexpr int64_t kBatch = 6;  // 8 steps

// The sum over one rank, which checks the memory it is given: device memory
// and a stream on the CUDA backend, host memory and none on the CPU.
struct OneRank {
  int on_device;
  int calls = 0;

  static int sum(void* user, float* buffer, int64_t count, int on_device, void* stream,
                 char* message, size_t size) {
    auto* self = static_cast<OneRank*>(user);
    ++self->calls;
    if (on_device != self->on_device || buffer == nullptr || count <= 128 ||
        (stream != nullptr) != (on_device != 0)) {
      std::snprintf(message, size, "OneRank: on_device %d, count %lld", on_device,
                    static_cast<long long>(count));
      return VAE_ERROR_INTERNAL;
    }
    return VAE_OK;
  }
};

void interrupt_at_first_call(void* trainer, int64_t, int64_t, double) {
  static_cast<Trainer*>(trainer)->interrupt();
}

TEST(CudaSharedSteps, OneRankWithAHookTrainsAnEpochAsTheCpu) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const Config c = testing::small_config();
  auto gpu = make_cuda_trainer_impl(c);
  auto cpu = make_cpu_trainer_impl(c);
  OneRank gpu_hook{1}, cpu_hook{0};
  gpu->set_allreduce(&OneRank::sum, &gpu_hook);
  cpu->set_allreduce(&OneRank::sum, &cpu_hook);
  const auto x = testing::binary(kRows * c.input_dim, 61);
  auto ds_gpu = gpu->create_dataset(x.data(), kRows);
  auto ds_cpu = cpu->create_dataset(x.data(), kRows);
  float lg = 0, lc = 0;
  gpu->train_epoch(*ds_gpu, kBatch, &lg);
  cpu->train_epoch(*ds_cpu, kBatch, &lc);
  EXPECT_NEAR(lg, lc, kStepTol * std::fabs(lc));
  EXPECT_TRUE(close(gpu->read_state(StateBuffer::kParameters),
                    cpu->read_state(StateBuffer::kParameters), kStepTol));
  EXPECT_EQ(gpu_hook.calls, 8);
  EXPECT_EQ(gpu->counters().steps, 8);
  EXPECT_EQ(gpu->counters().epochs, 1);
}

TEST(CudaSharedSteps, AnInterruptStopsASharedEpochWhereTheCpuStops) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const Config c = testing::small_config();
  const auto x = testing::binary(kRows * c.input_dim, 62);
  std::unique_ptr<Trainer> trainers[] = {make_cuda_trainer_impl(c), make_cpu_trainer_impl(c)};
  OneRank hooks[] = {OneRank{1}, OneRank{0}};
  std::vector<float> parameters[2];
  for (int b = 0; b < 2; ++b) {
    Trainer& t = *trainers[b];
    t.set_allreduce(&OneRank::sum, &hooks[b]);
    t.set_progress(&interrupt_at_first_call, &t);
    auto ds = t.create_dataset(x.data(), kRows);
    // Interrupted at the progress call after step 1, asked in step 2, read
    // after it: the epoch stops before step 3.
    try {
      t.train_epoch(*ds, kBatch, nullptr);
      ADD_FAILURE() << (b == 0 ? "CUDA" : "CPU") << ": the shared epoch was not stopped";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), VAE_ERROR_INTERRUPTED);
      EXPECT_NE(std::string(e.what()).find("on 1 of the 1 ranks"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("before step 3 of 8"), std::string::npos) << e.what();
    }
    EXPECT_EQ(hooks[b].calls, 2);
    EXPECT_EQ(t.counters().steps, 2);
    EXPECT_EQ(t.counters().epochs, 0);
    t.set_progress(nullptr, nullptr);
    t.train_epoch(*ds, kBatch, nullptr);  // whole again
    EXPECT_EQ(t.counters().steps, 10);
    EXPECT_EQ(t.counters().epochs, 1);
    parameters[b] = t.read_state(StateBuffer::kParameters);
  }
  EXPECT_TRUE(close(parameters[0], parameters[1], kStepTol));
}

// A hook that writes `value` at buffer[count + past], through its stream.
struct DeviceOverrun {
  int64_t past;
  float value;
  static int hook(void* user, float* buffer, int64_t count, int, void* stream, char* message,
                  size_t size) {
    const auto* self = static_cast<DeviceOverrun*>(user);
    if (cudaMemcpyAsync(buffer + count + self->past, &self->value, sizeof(float),
                        cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream)) != cudaSuccess ||
        cudaStreamSynchronize(static_cast<cudaStream_t>(stream)) != cudaSuccess) {
      std::snprintf(message, size, "DeviceOverrun: the copy failed");
      return VAE_ERROR_INTERNAL;
    }
    return VAE_OK;
  }
};

// On the GPU the guard after the hook's buffer is read on the device: the
// step is skipped (no parameter or moment changes) and the next call that
// reads the step's state reports it as VAE_ERROR_DEVICE.
TEST(CudaSharedSteps, AHookThatWritesPastItsBufferSkipsTheStep) {
  if (!vae::testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const Config c = testing::small_config();
  auto gpu = make_cuda_trainer_impl(c);
  const auto x = testing::binary(c.max_batch * c.input_dim, 63);
  float loss = 0;
  gpu->train_step(x.data(), c.max_batch, &loss);  // Adam's moments are not all zero
  for (const float value : {NAN, 0.0f, 1.5f}) {
    for (const int64_t past : {int64_t{0}, kHookGuardFloats - 1}) {
      const auto params = gpu->read_state(StateBuffer::kParameters);
      const auto m = gpu->read_state(StateBuffer::kAdamFirstMoment);
      const auto v = gpu->read_state(StateBuffer::kAdamSecondMoment);
      const Counters before = gpu->counters();
      DeviceOverrun overrun{past, value};
      gpu->set_allreduce(&DeviceOverrun::hook, &overrun);
      try {
        gpu->train_step(x.data(), c.max_batch, &loss);
        ADD_FAILURE() << "an overrunning hook's step was taken";
      } catch (const Error& e) {
        EXPECT_EQ(e.status(), VAE_ERROR_DEVICE) << e.what();
        EXPECT_NE(std::string(e.what()).find("wrote past the end of its buffer (in the last, float " +
                                             std::to_string(past) + " after"),
                  std::string::npos)
            << e.what();
      }
      EXPECT_EQ(gpu->read_state(StateBuffer::kParameters), params);
      EXPECT_EQ(gpu->read_state(StateBuffer::kAdamFirstMoment), m);
      EXPECT_EQ(gpu->read_state(StateBuffer::kAdamSecondMoment), v);
      EXPECT_EQ(gpu->counters().steps, before.steps);
      EXPECT_EQ(gpu->counters().skipped_steps, before.skipped_steps + 1);
      // Reported once: a hook that keeps to its buffer then trains.
      OneRank keeps{1};
      gpu->set_allreduce(&OneRank::sum, &keeps);
      gpu->train_step(x.data(), c.max_batch, &loss);
      EXPECT_EQ(gpu->counters().steps, before.steps + 1);
    }
  }
}

}  // namespace
}  // namespace vae
