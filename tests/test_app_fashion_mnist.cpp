// End to end on the real data: one epoch on a 2,000-row slice of
// Fashion-MNIST through the C API improves the test ELBO of the untrained
// model by a wide margin. The data come from Debian's dataset-fashion-mnist,
// which the README's commands install.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "idx_reader.h"
#include "vae/vae.h"

namespace {

const char* kTrain = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
const char* kTest = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

TEST(FashionMnist, OneEpochOnASliceImprovesTheTestElboWidely) {
  if (!std::ifstream(kTrain) || !std::ifstream(kTest)) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)";
  }
  const vae_app::DataMatrix train = vae_app::read_idx_file(kTrain);
  const vae_app::DataMatrix test = vae_app::read_idx_file(kTest);
  ASSERT_EQ(train.rows, 60000);
  ASSERT_EQ(test.rows, 10000);
  ASSERT_EQ(train.dim, 784);

  vae_config* c = nullptr;
  ASSERT_EQ(vae_config_create(&c), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  ASSERT_EQ(vae_config_set_int(c, VAE_OPT_THREADS, 2), VAE_OK);
  vae_trainer* t = nullptr;
  ASSERT_EQ(vae_create(c, &t), VAE_OK);
  vae_config_destroy(c);

  vae_dataset* slice = nullptr;
  vae_dataset* held_out = nullptr;
  ASSERT_EQ(vae_dataset_create_u8(t, train.bytes.data(), 2000, VAE_BYTES_BINARIZE, &slice), VAE_OK);
  ASSERT_EQ(vae_dataset_create_u8(t, test.bytes.data(), 1000, VAE_BYTES_BINARIZE, &held_out), VAE_OK);

  double before = 0, after = 0, reconstruction = 0, kl = 0;
  ASSERT_EQ(vae_evaluate_dataset(t, held_out, &before, nullptr, nullptr), VAE_OK);
  float loss = 0;
  ASSERT_EQ(vae_train_epoch(t, slice, 128, &loss), VAE_OK) << vae_last_error();
  ASSERT_EQ(vae_evaluate_dataset(t, held_out, &after, &reconstruction, &kl), VAE_OK);
  int64_t steps = 0;
  ASSERT_EQ(vae_get_int(t, VAE_OPT_STEPS, &steps), VAE_OK);
  EXPECT_EQ(steps, 16);  // 15 full batches of 128 and one of 80

  // The untrained decoder's logits are near 0: about 784 log 2 = 543 nats.
  EXPECT_LT(before, -450.0);
  EXPECT_GT(after, before + 150.0);
  EXPECT_NEAR(after, reconstruction - kl, 1e-6 * std::fabs(after));
  EXPECT_GT(kl, 0.0);
  vae_dataset_destroy(slice);
  vae_dataset_destroy(held_out);
  vae_destroy(t);
}

}  // namespace
