// The conditional VAE through the C API (vae.h, "rows with conditions"):
// the _rows calls and the dataset conditions, what they refuse (each
// refusal a status, a message naming what is wrong, and nothing changed),
// and checkpoints that keep the option and resume exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint_edit.h"
#include "conditional_support.h"
#include "safetensors.h"
#include "vae/vae.h"

namespace vae {
namespace {

using testing::kClasses;

constexpr int64_t kDim = 6, kLatent = 2, kBatch = 5;

class ConditionalApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(vae_config_create(&config_), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_LATENT_DIM, kLatent), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_MAX_BATCH, kBatch), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    const int32_t hidden[] = {8};
    ASSERT_EQ(vae_config_set_hidden_layers(config_, hidden, 1), VAE_OK);
    ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_CONDITION_DIM, kClasses), VAE_OK);
    ASSERT_EQ(vae_create(config_, &t_), VAE_OK) << vae_last_error();
  }
  void TearDown() override {
    vae_destroy(t_);
    vae_config_destroy(config_);
  }

  vae_rows rows(const std::vector<float>& data, const std::vector<float>& condition,
                int64_t n) const {
    vae_rows r{};
    r.size = sizeof(vae_rows);
    r.n = n;
    r.data = data.empty() ? nullptr : data.data();
    r.condition = condition.empty() ? nullptr : condition.data();
    return r;
  }

  std::vector<float> parameters() const {
    int64_t count = 0;
    EXPECT_EQ(vae_parameter_count(t_, &count), VAE_OK);
    std::vector<float> p(static_cast<size_t>(count));
    EXPECT_EQ(vae_get_parameters(t_, p.data(), count), VAE_OK);
    return p;
  }

  int64_t steps() const {
    int64_t s = -1;
    EXPECT_EQ(vae_get_int(t_, VAE_OPT_STEPS, &s), VAE_OK);
    return s;
  }

  // The last call failed with status, naming `part` in its message.
  static void expect_refused(vae_status got, const std::string& part) {
    EXPECT_EQ(got, VAE_ERROR_INVALID_ARGUMENT);
    const std::string said = vae_last_error();
    EXPECT_NE(said.find(part), std::string::npos) << said;
  }

  vae_config* config_ = nullptr;
  vae_trainer* t_ = nullptr;
  const std::vector<float> x_ = testing::uniform(kBatch * kDim, 11);
  const std::vector<float> c_ = testing::one_hot(testing::labels_of(kBatch, kClasses, 12), kClasses);
};

TEST_F(ConditionalApi, TheRowsCallsRunAndTheOptionReads) {
  int64_t dim = 0;
  ASSERT_EQ(vae_get_int(t_, VAE_OPT_CONDITION_DIM, &dim), VAE_OK);
  EXPECT_EQ(dim, kClasses);
  const vae_rows r = rows(x_, c_, kBatch);
  float loss = 0;
  ASSERT_EQ(vae_train_step_rows(t_, &r, &loss), VAE_OK) << vae_last_error();
  EXPECT_TRUE(std::isfinite(loss));
  std::vector<float> a(kBatch), b(kBatch), k(kBatch);
  ASSERT_EQ(vae_evaluate_rows(t_, &r, a.data(), b.data(), k.data()), VAE_OK) << vae_last_error();
  ASSERT_EQ(vae_log_likelihood_rows(t_, &r, 5, VAE_ESTIMATOR_IMPORTANCE, a.data()), VAE_OK);
  vae_likelihood_options o;
  ASSERT_EQ(vae_likelihood_options_init(&o), VAE_OK);
  o.k = 5;
  vae_likelihood_rows out{};
  out.size = sizeof(out);
  out.log_px = b.data();
  ASSERT_EQ(vae_log_likelihood_stats_rows(t_, &r, &o, &out), VAE_OK) << vae_last_error();
  for (int i = 0; i < kBatch; ++i) {
    EXPECT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << "row " << i;
  }
  std::vector<float> mu(kBatch * kLatent), lv(kBatch * kLatent), mean(kBatch * kDim);
  ASSERT_EQ(vae_encode_rows(t_, &r, mu.data(), lv.data()), VAE_OK);
  const vae_rows z = rows(mu, c_, kBatch);
  ASSERT_EQ(vae_decode_rows(t_, &z, mean.data()), VAE_OK) << vae_last_error();
  const vae_rows draws = rows({}, c_, kBatch);
  ASSERT_EQ(vae_sample_rows(t_, &draws, mean.data()), VAE_OK) << vae_last_error();
  vae_refine_options ro;
  ASSERT_EQ(vae_refine_options_init(&ro), VAE_OK);
  ro.steps = 3;
  ro.elbo_samples = 2;
  vae_refine_rows rr{};
  rr.size = sizeof(rr);
  rr.mu = mu.data();
  ASSERT_EQ(vae_refine_posterior_rows(t_, &r, &ro, &rr), VAE_OK) << vae_last_error();
}

TEST_F(ConditionalApi, CallsWithoutConditionsAreRefusedNamingTheRowsCall) {
  const std::vector<float> before = parameters();
  expect_refused(vae_train_step(t_, x_.data(), kBatch, nullptr), "vae_train_step_rows");
  std::vector<float> out(kBatch * kDim);
  expect_refused(vae_evaluate(t_, x_.data(), kBatch, out.data(), nullptr, nullptr),
                 "vae_evaluate_rows");
  expect_refused(vae_log_likelihood(t_, x_.data(), kBatch, 3, VAE_ESTIMATOR_PRIOR, out.data()),
                 "vae_log_likelihood_rows");
  expect_refused(vae_encode(t_, x_.data(), kBatch, out.data(), nullptr), "vae_encode_rows");
  expect_refused(vae_decode(t_, x_.data(), kBatch, out.data()), "vae_decode_rows");
  expect_refused(vae_sample(t_, kBatch, out.data()), "vae_sample_rows");
  // A _rows call whose condition is NULL is refused alike.
  const vae_rows no_condition = rows(x_, {}, kBatch);
  expect_refused(vae_train_step_rows(t_, &no_condition, nullptr), "VAE_OPT_CONDITION_DIM = 4");
  EXPECT_EQ(parameters(), before);
  EXPECT_EQ(steps(), 0);
}

TEST_F(ConditionalApi, BadRowsAreRefusedAndChangeNothing) {
  const std::vector<float> before = parameters();
  vae_rows r = rows(x_, c_, kBatch);
  expect_refused(vae_train_step_rows(t_, nullptr, nullptr), "rows: NULL");
  r.size = sizeof(vae_rows) + 8;
  expect_refused(vae_train_step_rows(t_, &r, nullptr), "rows->size");
  r.size = sizeof(vae_rows);
  r.n = kBatch + 1;
  expect_refused(vae_train_step_rows(t_, &r, nullptr), "n: must be in [1, 5]");
  r.n = kBatch;
  // A condition that is not finite, named by row and column.
  std::vector<float> bad = c_;
  bad[2 * kClasses + 3] = NAN;
  r.condition = bad.data();
  expect_refused(vae_train_step_rows(t_, &r, nullptr), "condition");
  const std::string said = vae_last_error();
  EXPECT_NE(said.find("row 2"), std::string::npos) << said;
  EXPECT_NE(said.find("column 3"), std::string::npos) << said;
  std::vector<float> out(kBatch * kDim);
  expect_refused(vae_evaluate_rows(t_, &r, out.data(), nullptr, nullptr), "condition");
  expect_refused(vae_decode_rows(t_, &r, out.data()), "condition");
  // Conditions may be any finite numbers, not only in [0, 1].
  std::vector<float> wide = c_;
  wide[0] = -3.5f;
  r.condition = wide.data();
  EXPECT_EQ(vae_evaluate_rows(t_, &r, out.data(), nullptr, nullptr), VAE_OK) << vae_last_error();
  const vae_rows sample_with_data = rows(x_, c_, kBatch);
  expect_refused(vae_sample_rows(t_, &sample_with_data, out.data()), "rows->data");
  EXPECT_EQ(parameters(), before);
  EXPECT_EQ(steps(), 0);
}

TEST_F(ConditionalApi, AModelWithoutConditionsRefusesThem) {
  vae_trainer* plain = nullptr;
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_CONDITION_DIM, 0), VAE_OK);
  ASSERT_EQ(vae_create(config_, &plain), VAE_OK);
  const vae_rows r = rows(x_, c_, kBatch);
  expect_refused(vae_train_step_rows(plain, &r, nullptr), "takes none");
  // Without conditions a _rows call is its namesake.
  const vae_rows bare = rows(x_, {}, kBatch);
  float a = 0;
  EXPECT_EQ(vae_train_step_rows(plain, &bare, &a), VAE_OK) << vae_last_error();
  vae_dataset* ds = nullptr;
  ASSERT_EQ(vae_dataset_create(plain, x_.data(), kBatch, &ds), VAE_OK);
  const std::vector<uint8_t> labels = testing::labels_of(kBatch, kClasses, 13);
  expect_refused(vae_dataset_set_labels(plain, ds, labels.data(), kBatch), "takes no conditions");
  vae_dataset_destroy(ds);
  vae_destroy(plain);
}

TEST_F(ConditionalApi, TheOptionsRangeAndItFixesTheModel) {
  expect_refused(vae_config_set_int(config_, VAE_OPT_CONDITION_DIM, -1), "VAE_OPT_CONDITION_DIM");
  expect_refused(vae_config_set_int(config_, VAE_OPT_CONDITION_DIM, (1 << 20) + 1),
                 "VAE_OPT_CONDITION_DIM");
  expect_refused(vae_set_int(t_, VAE_OPT_CONDITION_DIM, 3), "cannot change on a live trainer");
  int64_t dim = 0;
  ASSERT_EQ(vae_get_int(t_, VAE_OPT_CONDITION_DIM, &dim), VAE_OK);
  EXPECT_EQ(dim, kClasses);
}

TEST_F(ConditionalApi, DatasetConditionsAreCheckedAndKeptOnFailure) {
  const int64_t n = 9;
  const auto x = testing::uniform(static_cast<size_t>(n * kDim), 21);
  vae_dataset* ds = nullptr;
  ASSERT_EQ(vae_dataset_create(t_, x.data(), n, &ds), VAE_OK);
  float loss = 0;
  expect_refused(vae_train_epoch(t_, ds, kBatch, &loss), "vae_dataset_set_labels");
  std::vector<uint8_t> labels = testing::labels_of(n, kClasses, 22);
  expect_refused(vae_dataset_set_labels(t_, ds, labels.data(), n - 1), "n: must be the dataset's 9");
  expect_refused(vae_dataset_set_labels(t_, ds, nullptr, n), "labels: NULL");
  labels[4] = kClasses;
  expect_refused(vae_dataset_set_labels(t_, ds, labels.data(), n), "row 4 has label 4");
  // Still no conditions: every refusal above changed nothing.
  expect_refused(vae_train_epoch(t_, ds, kBatch, &loss), "holds no conditions");
  labels[4] = 1;
  ASSERT_EQ(vae_dataset_set_labels(t_, ds, labels.data(), n), VAE_OK) << vae_last_error();
  std::vector<float> c = testing::one_hot(labels, kClasses);
  c[7] = INFINITY;
  expect_refused(vae_dataset_set_conditions(t_, ds, c.data(), n), "row 1");
  // The labels set before the refusal still serve, in every dataset call.
  ASSERT_EQ(vae_train_epoch(t_, ds, kBatch, &loss), VAE_OK) << vae_last_error();
  EXPECT_TRUE(std::isfinite(loss));
  double elbo = 0, log_px = 0;
  ASSERT_EQ(vae_evaluate_dataset(t_, ds, &elbo, nullptr, nullptr), VAE_OK) << vae_last_error();
  ASSERT_EQ(vae_log_likelihood_dataset(t_, ds, 4, VAE_ESTIMATOR_PRIOR, &log_px), VAE_OK);
  vae_likelihood_options o;
  ASSERT_EQ(vae_likelihood_options_init(&o), VAE_OK);
  o.k = 4;
  vae_likelihood_summary summary{};
  summary.size = sizeof(summary);
  ASSERT_EQ(vae_log_likelihood_stats_dataset(t_, ds, &o, &summary), VAE_OK) << vae_last_error();
  vae_latent_usage_options uo;
  ASSERT_EQ(vae_latent_usage_options_init(&uo), VAE_OK);
  vae_latent_usage_result usage{};
  usage.size = sizeof(usage);
  ASSERT_EQ(vae_latent_usage(t_, ds, &uo, &usage), VAE_OK) << vae_last_error();
  EXPECT_TRUE(std::isfinite(elbo) && std::isfinite(log_px) && std::isfinite(summary.mean_log_px) &&
              std::isfinite(usage.kl_total));
  // Another trainer's dataset is refused.
  vae_trainer* other = nullptr;
  ASSERT_EQ(vae_create(config_, &other), VAE_OK);
  expect_refused(vae_dataset_set_labels(other, ds, labels.data(), n), "another trainer");
  vae_destroy(other);
  vae_dataset_destroy(ds);
}

TEST_F(ConditionalApi, CheckpointsKeepTheOptionAndResumeExactly) {
  const testing::TestDirectory dir("conditional");
  const vae_rows r = rows(x_, c_, kBatch);
  for (int s = 0; s < 3; ++s) ASSERT_EQ(vae_train_step_rows(t_, &r, nullptr), VAE_OK);
  const std::string path = (dir.path() / "conditional.safetensors").string();
  ASSERT_EQ(vae_save(t_, path.c_str()), VAE_OK) << vae_last_error();
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK) << vae_last_error();
  int64_t dim = 0;
  ASSERT_EQ(vae_get_int(loaded, VAE_OPT_CONDITION_DIM, &dim), VAE_OK);
  EXPECT_EQ(dim, kClasses);
  for (int s = 0; s < 3; ++s) {
    float a = 0, b = 0;
    ASSERT_EQ(vae_train_step_rows(t_, &r, &a), VAE_OK);
    ASSERT_EQ(vae_train_step_rows(loaded, &r, &b), VAE_OK);
    EXPECT_EQ(a, b) << "step " << s;
  }
  std::vector<float> m1(kBatch * kDim), m2(kBatch * kDim);
  const vae_rows draws = rows({}, c_, kBatch);
  ASSERT_EQ(vae_sample_rows(t_, &draws, m1.data()), VAE_OK);
  ASSERT_EQ(vae_sample_rows(loaded, &draws, m2.data()), VAE_OK);
  EXPECT_EQ(m1, m2);
  // The file's first layers have the condition's columns.
  int64_t count = 0;
  ASSERT_EQ(vae_parameter_count(loaded, &count), VAE_OK);
  const int64_t expected = 8 * (kDim + kClasses) + 8 + 2 * kLatent * 8 + 2 * kLatent +
                           8 * (kLatent + kClasses) + 8 + kDim * 8 + kDim;
  EXPECT_EQ(count, expected);
  vae_destroy(loaded);
}

// A checkpoint of 0.2, before conditions, lacks the option: it loads as
// the unconditional model it is. A file whose option does not fit its
// tensors is a format error, naming the tensor.
TEST_F(ConditionalApi, OlderCheckpointsLoadWithoutConditions) {
  const testing::TestDirectory dir("conditional_older");
  vae_trainer* plain = nullptr;
  ASSERT_EQ(vae_config_set_int(config_, VAE_OPT_CONDITION_DIM, 0), VAE_OK);
  ASSERT_EQ(vae_create(config_, &plain), VAE_OK);
  const std::string path = (dir.path() / "plain.safetensors").string();
  ASSERT_EQ(vae_save(plain, path.c_str()), VAE_OK);
  vae_destroy(plain);
  SafetensorsFile file = read_safetensors(path);
  ASSERT_EQ(file.metadata.erase("VAE_OPT_CONDITION_DIM"), 1u);
  const std::string older = (dir.path() / "older.safetensors").string();
  testing::write_edited_checkpoint(older, file);
  vae_trainer* loaded = nullptr;
  ASSERT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &loaded), VAE_OK) << vae_last_error();
  int64_t dim = -1;
  ASSERT_EQ(vae_get_int(loaded, VAE_OPT_CONDITION_DIM, &dim), VAE_OK);
  EXPECT_EQ(dim, 0);
  float loss = 0;
  EXPECT_EQ(vae_train_step(loaded, x_.data(), kBatch, &loss), VAE_OK) << vae_last_error();
  vae_destroy(loaded);
  file.metadata["VAE_OPT_CONDITION_DIM"] = "2";
  testing::write_edited_checkpoint(older, file);
  loaded = nullptr;
  EXPECT_EQ(vae_load(older.c_str(), VAE_BACKEND_CPU, &loaded), VAE_ERROR_FORMAT);
  const std::string said = vae_last_error();
  EXPECT_NE(said.find("encoder.0.weight"), std::string::npos) << said;
  EXPECT_EQ(loaded, nullptr);
}

}  // namespace
}  // namespace vae
