// A configuration whose workspace the machine cannot give is refused before
// anything is allocated (src/host_memory.h): vae_create and vae_load return
// VAE_ERROR_OUT_OF_MEMORY naming the amount, where they allocated (and
// zero-filled) it before, so that an overcommitting host's OOM killer ended
// the process. Each case runs in a child process limited to 4 GiB of address
// space (outside ASan and TSan, whose shadow needs more), so that the
// test fails rather than exhausts the machine.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "config.h"
#include "safetensors.h"
#include "child_call.h"
#include "test_support.h"
#include "usable_cpus.h"
#include "vae/vae.h"

namespace {

// Runs call() -> status in a child process limited to 4 GiB of address
// space (child_call.h).
std::string in_child(const std::function<vae_status()>& call) {
  return vae::testing::call_in_child(size_t{4} << 30, 60, call);
}

bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// A legal configuration of ~43 GB: 2-1-1 with max batch 2^20 and 1023
// samples (max_batch * samples * widest layer just below 2^31).
vae_config* huge_config() {
  vae_config* c = nullptr;
  EXPECT_EQ(vae_config_create(&c), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, 2), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, 1), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 1 << 20), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_SAMPLES, 1023), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  const int32_t widths[] = {1};
  EXPECT_EQ(vae_config_set_hidden_layers(c, widths, 1), VAE_OK);
  return c;
}

void expect_refused_naming_the_amount(const std::string& said) {
  EXPECT_TRUE(has(said, "status 2:")) << said;
  EXPECT_TRUE(has(said, " needs ") && has(said, " GB of host memory")) << said;
  const size_t at = said.find(" peak +");
  ASSERT_NE(at, std::string::npos) << said;
  EXPECT_LT(std::stol(said.substr(at + 7)), 64 * 1024) << said;
}

TEST(MemoryEstimate, CreateRefusesAWorkspaceTheMachineCannotGive) {
  vae_config* c = huge_config();
  const std::string said = in_child([c] {
    vae_trainer* t = nullptr;
    return vae_create(c, &t);
  });
  vae_config_destroy(c);
  expect_refused_naming_the_amount(said);
}

// A small checkpoint whose metadata asks for that workspace.
TEST(MemoryEstimate, LoadRefusesACheckpointAskingForIt) {
  const vae::testing::TestDirectory dir("memory_estimate");
  vae_config* c = huge_config();
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 4), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_SAMPLES, 1), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(c);
  const std::string small = (dir.path() / "small.safetensors").string();
  ASSERT_EQ(vae_save(t, small.c_str()), VAE_OK);
  vae_destroy(t);
  vae::SafetensorsFile file = vae::read_safetensors(small);
  file.metadata["VAE_OPT_MAX_BATCH"] = std::to_string(1 << 20);
  file.metadata["VAE_OPT_SAMPLES"] = "1023";
  const std::string huge = (dir.path() / "huge.safetensors").string();
  vae::write_safetensors(huge, file);
  const std::string said = in_child([&huge] {
    vae_trainer* loaded = nullptr;
    return vae_load(huge.c_str(), VAE_BACKEND_CPU, &loaded);
  });
  expect_refused_naming_the_amount(said);
}

// vae_load_config: the caller's max batch and threads, not the file's.
TEST(MemoryEstimate, LoadConfigTakesTheCallersLimits) {
  const vae::testing::TestDirectory dir("memory_estimate");
  vae_config* c = huge_config();
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 4), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_SAMPLES, 1), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  const std::string small = (dir.path() / "small.safetensors").string();
  ASSERT_EQ(vae_save(t, small.c_str()), VAE_OK);
  int64_t count = 0;
  ASSERT_EQ(vae_parameter_count(t, &count), VAE_OK);
  std::vector<float> saved(static_cast<size_t>(count)), loaded_values(saved.size());
  ASSERT_EQ(vae_get_parameters(t, saved.data(), count), VAE_OK);
  vae_destroy(t);
  vae::SafetensorsFile file = vae::read_safetensors(small);
  file.metadata["VAE_OPT_MAX_BATCH"] = std::to_string(1 << 20);
  file.metadata["VAE_OPT_SAMPLES"] = "1";
  file.metadata["VAE_OPT_THREADS"] = "256";
  const std::string asks = (dir.path() / "asks.safetensors").string();
  vae::write_safetensors(asks, file);

  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 64), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_THREADS, 2), VAE_OK);
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load_config(asks.c_str(), c, &loaded), VAE_OK) << vae_last_error();
  int64_t value = 0;
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_MAX_BATCH, &value), VAE_OK);
  EXPECT_EQ(value, 64);
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_THREADS, &value), VAE_OK);
  EXPECT_EQ(value, 2);
  ASSERT_EQ(vae_get_parameters(loaded, loaded_values.data(), count), VAE_OK);
  EXPECT_EQ(loaded_values, saved);
  vae_destroy(loaded);

  // vae_load keeps the file's choices, its threads up to the CPUs this
  // process may run on, and starts no more threads than that.
  loaded = nullptr;
  const int threads_before = vae::testing::process_threads();
  ASSERT_EQ(vae_load(asks.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK) << vae_last_error();
  EXPECT_LE(vae::testing::process_threads(), threads_before + vae::usable_cpus());
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_THREADS, &value), VAE_OK);
  EXPECT_EQ(value, std::min<int64_t>(256, vae::usable_cpus()));
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_MAX_BATCH, &value), VAE_OK);
  EXPECT_EQ(value, 1 << 20);
  vae_destroy(loaded);
  EXPECT_EQ(vae_load_config(asks.c_str(), nullptr, &loaded), VAE_ERROR_INVALID_ARGUMENT);
  vae_config_destroy(c);
}

// vae_load_config takes only the options set on its config; those not set
// are the file's, as with vae_load.
TEST(MemoryEstimate, LoadConfigKeepsTheFilesChoicesItWasNotGiven) {
  const vae::testing::TestDirectory dir("memory_estimate");
  vae_config* c = huge_config();
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 4), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_SAMPLES, 1), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_TF32, 1), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_EVAL_ROWS, 1536), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(c);
  int64_t eval_rows = 0;
  ASSERT_EQ(vae_get_int(t, VAE_OPT_EVAL_ROWS, &eval_rows), VAE_OK);
  const std::string path = (dir.path() / "model.safetensors").string();
  ASSERT_EQ(vae_save(t, path.c_str()), VAE_OK);
  vae_destroy(t);

  vae_config* limits = nullptr;
  ASSERT_EQ(vae_config_create(&limits), VAE_OK);
  ASSERT_EQ(vae_config_set_int(limits, VAE_OPT_MAX_BATCH, 16), VAE_OK);
  // Not among what vae_load_config takes: the file's stays.
  ASSERT_EQ(vae_config_set_int(limits, VAE_OPT_SAMPLES, 7), VAE_OK);
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load_config(path.c_str(), limits, &loaded), VAE_OK) << vae_last_error();
  vae_config_destroy(limits);
  int64_t value = 0;
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_MAX_BATCH, &value), VAE_OK);
  EXPECT_EQ(value, 16);
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_TF32, &value), VAE_OK);
  EXPECT_EQ(value, 1);
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_EVAL_ROWS, &value), VAE_OK);
  EXPECT_EQ(value, eval_rows);
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_SAMPLES, &value), VAE_OK);
  EXPECT_EQ(value, 1);
  EXPECT_EQ(vae_get_int(loaded, VAE_OPT_BACKEND, &value), VAE_OK);
  EXPECT_EQ(value, VAE_BACKEND_CPU);
  vae_destroy(loaded);
}

TEST(MemoryEstimate, AModelThatFitsIsMade) {
  vae_config* c = huge_config();
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 1 << 10), VAE_OK);
  vae_trainer* t = nullptr;
  EXPECT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  vae_destroy(t);
  vae_config_destroy(c);
}

}  // namespace
