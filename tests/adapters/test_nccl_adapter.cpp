// The vae_nccl adapter with one rank on the GPU (skipped without one): a
// CUDA trainer whose steps NCCL sums over a communicator of one trains bit
// for bit as the same trainer without a hook, and the adapter refuses what
// it cannot do, saying why.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "vae/vae.h"
#include "vae/vae_nccl.h"

namespace {

bool gpu_present() {
  vae_config* c = nullptr;
  if (vae_config_create(&c) != VAE_OK) return false;
  vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CUDA);
  vae_trainer* t = nullptr;
  const bool made = vae_create(c, &t) == VAE_OK;
  vae_destroy(t);
  vae_config_destroy(c);
  return made;
}

vae_trainer* make_trainer(int backend) {
  vae_config* c = nullptr;
  EXPECT_EQ(vae_config_create(&c), VAE_OK);
  EXPECT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, backend), VAE_OK);
  vae_trainer* t = nullptr;
  EXPECT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
  vae_config_destroy(c);
  return t;
}

std::vector<float> parameters(vae_trainer* t) {
  int64_t count = 0;
  EXPECT_EQ(vae_parameter_count(t, &count), VAE_OK);
  std::vector<float> p(static_cast<size_t>(count));
  EXPECT_EQ(vae_get_parameters(t, p.data(), count), VAE_OK);
  return p;
}

TEST(NcclAdapter, RefusesBadArgumentsWithoutAGpu) {
  unsigned char id[VAE_NCCL_ID_BYTES] = {};
  vae_nccl* n = nullptr;
  EXPECT_EQ(vae_nccl_create(id, 0, 0, 0, &n), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_nccl_last_error()).find("world_size"), std::string::npos);
  EXPECT_EQ(vae_nccl_create(id, 2, 2, 0, &n), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(vae_nccl_create(nullptr, 1, 0, 0, &n), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(n, nullptr);
  EXPECT_EQ(vae_nccl_attach(nullptr, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  char message[128] = {};
  float x = 1.0f;
  EXPECT_EQ(vae_nccl_allreduce(nullptr, &x, 1, 1, nullptr, message, sizeof message),
            VAE_ERROR_INVALID_ARGUMENT);
  vae_nccl_destroy(nullptr);
}

TEST(NcclAdapter, OneRankTrainsAsWithoutAHook) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA device";
  unsigned char id[VAE_NCCL_ID_BYTES];
  ASSERT_EQ(vae_nccl_unique_id(id), VAE_OK) << vae_nccl_last_error();
  vae_nccl* n = nullptr;
  ASSERT_EQ(vae_nccl_create(id, 1, 0, 0, &n), VAE_OK) << vae_nccl_last_error();
  vae_trainer* shared = make_trainer(VAE_BACKEND_CUDA);
  vae_trainer* alone = make_trainer(VAE_BACKEND_CUDA);
  vae_trainer* cpu = make_trainer(VAE_BACKEND_CPU);
  EXPECT_EQ(vae_nccl_attach(n, cpu), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(vae_nccl_last_error()).find("CPU backend"), std::string::npos);
  ASSERT_EQ(vae_nccl_attach(n, shared), VAE_OK) << vae_nccl_last_error();
  std::mt19937 rng(3);
  std::bernoulli_distribution bit(0.3);
  std::vector<float> x(128 * 784);
  for (int step = 0; step < 5; ++step) {
    for (float& v : x) v = bit(rng) ? 1.0f : 0.0f;
    float shared_loss = 0, alone_loss = 0;
    ASSERT_EQ(vae_train_step(shared, x.data(), 128, &shared_loss), VAE_OK) << vae_last_error();
    ASSERT_EQ(vae_train_step(alone, x.data(), 128, &alone_loss), VAE_OK) << vae_last_error();
    EXPECT_EQ(shared_loss, alone_loss) << step;
  }
  EXPECT_EQ(parameters(shared), parameters(alone));
  // A host buffer is not NCCL's to sum.
  char message[256] = {};
  float host = 1.0f;
  EXPECT_EQ(vae_nccl_allreduce(n, &host, 1, 0, nullptr, message, sizeof message),
            VAE_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(message).find("vae_mpi"), std::string::npos) << message;
  vae_destroy(shared);
  vae_destroy(alone);
  vae_destroy(cpu);
  vae_nccl_destroy(n);
}

}  // namespace
