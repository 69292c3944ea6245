// A CUDA trainer's device memory is computed before anything is allocated
// (src/cuda/cuda_trainer.cpp): one whose arena is more than the device has
// free is refused by vae_create and vae_load alike with
// VAE_ERROR_OUT_OF_MEMORY naming both amounts, and leaves the device's free
// memory as it was. Every test skips itself where there is no CUDA device.
#include <gtest/gtest.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "safetensors.h"
#include "vae/vae.h"

namespace vae {
namespace {

bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// 2-[2 x 8]-1 with max batch 2^20 and 1023 samples: every decoder buffer
// just below 2^31 floats, so a legal configuration of hundreds of GB.
Config huge_config() {
  Config c = testing::small_config(2, 1, {2, 2, 2, 2, 2, 2, 2, 2}, 1 << 20);
  c.samples = 1023;
  c.backend = VAE_BACKEND_CUDA;
  c.validate();
  return c;
}

vae_config* c_config(const Config& c) {
  vae_config* out = nullptr;
  EXPECT_EQ(vae_config_create(&out), VAE_OK);
  EXPECT_EQ(vae_config_set_int(out, VAE_OPT_INPUT_DIM, c.input_dim), VAE_OK);
  EXPECT_EQ(vae_config_set_int(out, VAE_OPT_LATENT_DIM, c.latent_dim), VAE_OK);
  EXPECT_EQ(vae_config_set_int(out, VAE_OPT_MAX_BATCH, c.max_batch), VAE_OK);
  EXPECT_EQ(vae_config_set_int(out, VAE_OPT_SAMPLES, c.samples), VAE_OK);
  EXPECT_EQ(vae_config_set_int(out, VAE_OPT_BACKEND, c.backend), VAE_OK);
  std::vector<int32_t> widths(c.hidden.begin(), c.hidden.end());
  EXPECT_EQ(vae_config_set_hidden_layers(out, widths.data(), static_cast<int32_t>(widths.size())),
            VAE_OK);
  return out;
}

size_t device_free() {
  size_t free = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  return free;
}

// The refusal names the trainer, what it needs and what the device has.
void expect_refused(vae_status status, size_t free_before) {
  const std::string said = vae_last_error();
  EXPECT_EQ(status, VAE_ERROR_OUT_OF_MEMORY) << said;
  EXPECT_TRUE(has(said, "a CUDA trainer of 2-2-2-2-2-2-2-2-2-1 with max batch 1048576")) << said;
  EXPECT_TRUE(has(said, " GB of device memory, more than CUDA device 0 has free (")) << said;
  EXPECT_TRUE(has(said, "nothing was allocated")) << said;
  EXPECT_EQ(device_free(), free_before);
}

TEST(CudaMemory, CreateRefusesAnArenaLargerThanTheDeviceHasFree) {
  if (!testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const Config c = huge_config();
  const size_t free_before = device_free();
  // The configuration is larger than this device: the test would not test.
  const ParameterLayout layout(c, CudaOps::kParameterAlignment);
  const double floats = Network<CudaOps>::arena_floats<double>(
      layout, c.input_dim, c.latent_dim, c.max_batch, c.max_batch * c.samples);
  ASSERT_GT(floats * sizeof(float), static_cast<double>(free_before));

  vae_config* config = c_config(c);
  vae_trainer* t = nullptr;
  expect_refused(vae_create(config, &t), free_before);
  EXPECT_EQ(t, nullptr);
  vae_config_destroy(config);
}

// A small checkpoint whose metadata asks for it.
TEST(CudaMemory, LoadRefusesACheckpointAskingForIt) {
  if (!testing::gpu_present()) GTEST_SKIP() << "no CUDA device";
  const testing::TestDirectory dir("cuda_memory");
  Config small = huge_config();
  small.max_batch = 4;
  small.samples = 1;
  small.backend = VAE_BACKEND_CPU;
  vae_config* config = c_config(small);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(config, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(config);
  const std::string path = (dir.path() / "model.safetensors").string();
  ASSERT_EQ(vae_save(t, path.c_str()), VAE_OK);
  vae_destroy(t);
  SafetensorsFile file = read_safetensors(path);
  file.metadata["VAE_OPT_MAX_BATCH"] = std::to_string(1 << 20);
  file.metadata["VAE_OPT_SAMPLES"] = "1023";
  write_safetensors(path, file);

  const size_t free_before = device_free();
  vae_trainer* loaded = nullptr;
  expect_refused(vae_load(path.c_str(), VAE_BACKEND_CUDA, &loaded), free_before);
  EXPECT_EQ(loaded, nullptr);
}

}  // namespace
}  // namespace vae
