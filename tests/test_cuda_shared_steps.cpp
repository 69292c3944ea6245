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
#include "error.h"
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

}  // namespace
}  // namespace vae
