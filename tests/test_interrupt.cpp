// vae_interrupt: a long call stops at its next check and returns
// VAE_ERROR_INTERRUPTED, whether the interrupt comes from the progress
// callback or another thread; an epoch keeps the steps it took and is not
// counted; an evaluation changes nothing; with no long call running, an
// interrupt has no effect.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"
#include "vae/vae.h"

namespace vae {
namespace {

constexpr int64_t kDim = 10, kRows = 40, kBatch = 4;  // an epoch of 10 steps

struct Handles {
  vae_trainer* t = nullptr;
  vae_dataset* ds = nullptr;
  explicit Handles(int64_t rows = kRows) {
    vae_config* c = nullptr;
    EXPECT_EQ(vae_config_create(&c), VAE_OK);
    const std::pair<int, int64_t> settings[] = {{VAE_OPT_INPUT_DIM, kDim}, {VAE_OPT_LATENT_DIM, 2},
                                                {VAE_OPT_MAX_BATCH, kBatch}, {VAE_OPT_BACKEND, VAE_BACKEND_CPU},
                                                {VAE_OPT_SEED, 7}};
    for (const auto& [option, value] : settings) EXPECT_EQ(vae_config_set_int(c, option, value), VAE_OK);
    const int32_t hidden[] = {8};
    EXPECT_EQ(vae_config_set_hidden_layers(c, hidden, 1), VAE_OK);
    EXPECT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
    vae_config_destroy(c);
    const auto x = testing::binary(static_cast<size_t>(rows * kDim), 3);
    EXPECT_EQ(vae_dataset_create(t, x.data(), rows, &ds), VAE_OK);
  }
  ~Handles() {
    vae_dataset_destroy(ds);
    vae_destroy(t);
  }
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;

  int64_t get(int option) const {
    int64_t v = -1;
    EXPECT_EQ(vae_get_int(t, option, &v), VAE_OK);
    return v;
  }
  std::vector<float> parameters() const {
    int64_t n = 0;
    EXPECT_EQ(vae_parameter_count(t, &n), VAE_OK);
    std::vector<float> p(static_cast<size_t>(n));
    EXPECT_EQ(vae_get_parameters(t, p.data(), n), VAE_OK);
    return p;
  }
};

// A progress callback that, after `at` rows, interrupts its trainer or
// (interrupt false) keeps the parameters as they are then.
struct StopAt {
  Handles* h;
  int64_t at;
  bool interrupt;
  std::vector<float> kept;
  int64_t calls = 0;

  static void call(void* self, int64_t done, int64_t, double) {
    auto* s = static_cast<StopAt*>(self);
    ++s->calls;
    if (done != s->at) return;
    if (s->interrupt) {
      EXPECT_EQ(vae_interrupt(s->h->t), VAE_OK);
    } else {
      s->kept = s->h->parameters();
    }
  }
};

TEST(Interrupt, FromTheProgressCallbackTheEpochStopsBeforeTheNextStep) {
  Handles stopped, full;
  StopAt stop{&stopped, 3 * kBatch, true, {}};
  StopAt keep{&full, 3 * kBatch, false, {}};
  ASSERT_EQ(vae_set_progress(stopped.t, &StopAt::call, &stop), VAE_OK);
  ASSERT_EQ(vae_set_progress(full.t, &StopAt::call, &keep), VAE_OK);

  float loss = -1.0f;
  ASSERT_EQ(vae_train_epoch(stopped.t, stopped.ds, kBatch, &loss), VAE_ERROR_INTERRUPTED);
  const std::string message = vae_last_error();
  EXPECT_NE(message.find("vae_train_epoch: interrupted by vae_interrupt before step 4 of 10"),
            std::string::npos)
      << message;
  EXPECT_EQ(loss, -1.0f);  // no output
  EXPECT_EQ(stop.calls, 3);
  EXPECT_EQ(stopped.get(VAE_OPT_STEPS), 3);
  EXPECT_EQ(stopped.get(VAE_OPT_EPOCHS), 0);

  // The three steps are those of an epoch that ran on: same rows, same noise.
  ASSERT_EQ(vae_train_epoch(full.t, full.ds, kBatch, nullptr), VAE_OK);
  EXPECT_EQ(stopped.parameters(), keep.kept);

  // The next epoch runs whole, and the flag did not outlive the call.
  ASSERT_EQ(vae_set_progress(stopped.t, nullptr, nullptr), VAE_OK);
  ASSERT_EQ(vae_train_epoch(stopped.t, stopped.ds, kBatch, &loss), VAE_OK) << vae_last_error();
  EXPECT_EQ(stopped.get(VAE_OPT_STEPS), 13);
  EXPECT_EQ(stopped.get(VAE_OPT_EPOCHS), 1);
}

TEST(Interrupt, AfterAnInterruptedEpochTheTrainerIsItsCheckpoint) {
  Handles stopped;
  StopAt stop{&stopped, 5 * kBatch, true, {}};
  ASSERT_EQ(vae_set_progress(stopped.t, &StopAt::call, &stop), VAE_OK);
  ASSERT_EQ(vae_train_epoch(stopped.t, stopped.ds, kBatch, nullptr), VAE_ERROR_INTERRUPTED);
  ASSERT_EQ(vae_set_progress(stopped.t, nullptr, nullptr), VAE_OK);
  const std::string path = testing::temp_path("interrupted.safetensors");
  ASSERT_EQ(vae_save(stopped.t, path.c_str()), VAE_OK);
  Handles restored;
  vae_dataset_destroy(restored.ds);
  vae_destroy(restored.t);
  ASSERT_EQ(vae_load(path.c_str(), VAE_BACKEND_CPU, &restored.t), VAE_OK) << vae_last_error();
  const auto x = testing::binary(kRows * kDim, 3);
  ASSERT_EQ(vae_dataset_create(restored.t, x.data(), kRows, &restored.ds), VAE_OK);
  std::filesystem::remove(path);

  // Nothing of the stopped epoch (its position, its loss sums) carries over.
  for (int epoch = 0; epoch < 2; ++epoch) {
    float a = 0, b = 0;
    ASSERT_EQ(vae_train_epoch(stopped.t, stopped.ds, kBatch, &a), VAE_OK);
    ASSERT_EQ(vae_train_epoch(restored.t, restored.ds, kBatch, &b), VAE_OK);
    EXPECT_EQ(a, b) << epoch;
  }
  EXPECT_EQ(stopped.parameters(), restored.parameters());
  EXPECT_EQ(stopped.get(VAE_OPT_STEPS), 25);
  EXPECT_EQ(stopped.get(VAE_OPT_EPOCHS), 2);
}

// The progress callback after the first step waits until another thread has
// interrupted the trainer, so the epoch stops after exactly that step.
TEST(Interrupt, FromAnotherThread) {
  Handles h;
  struct Meeting {
    std::mutex mutex;
    std::condition_variable changed;
    bool in_callback = false, interrupted = false;
  } meeting;
  const auto wait_in_callback = [](void* data, int64_t done, int64_t, double) {
    auto* m = static_cast<Meeting*>(data);
    if (done != kBatch) return;
    std::unique_lock<std::mutex> lock(m->mutex);
    m->in_callback = true;
    m->changed.notify_all();
    m->changed.wait(lock, [m] { return m->interrupted; });
  };
  ASSERT_EQ(vae_set_progress(h.t, wait_in_callback, &meeting), VAE_OK);
  std::thread other([&] {
    std::unique_lock<std::mutex> lock(meeting.mutex);
    meeting.changed.wait(lock, [&] { return meeting.in_callback; });
    EXPECT_EQ(vae_interrupt(h.t), VAE_OK);
    meeting.interrupted = true;
    meeting.changed.notify_all();
  });
  const vae_status s = vae_train_epoch(h.t, h.ds, kBatch, nullptr);
  other.join();
  EXPECT_EQ(s, VAE_ERROR_INTERRUPTED) << vae_last_error();
  EXPECT_EQ(h.get(VAE_OPT_STEPS), 1);
  EXPECT_EQ(h.get(VAE_OPT_EPOCHS), 0);
}

TEST(Interrupt, WithNoLongCallRunningHasNoEffect) {
  Handles h, twin;
  // A failed call's message stays: vae_interrupt does not touch it.
  ASSERT_EQ(vae_train_epoch(h.t, h.ds, 0, nullptr), VAE_ERROR_INVALID_ARGUMENT);
  const std::string message = vae_last_error();
  ASSERT_EQ(vae_interrupt(h.t), VAE_OK);
  ASSERT_EQ(vae_interrupt(h.t), VAE_OK);
  EXPECT_EQ(message, vae_last_error());
  float a = 0, b = 0;
  ASSERT_EQ(vae_train_epoch(h.t, h.ds, kBatch, &a), VAE_OK) << vae_last_error();
  ASSERT_EQ(vae_train_epoch(twin.t, twin.ds, kBatch, &b), VAE_OK);
  EXPECT_EQ(a, b);
  EXPECT_EQ(h.get(VAE_OPT_EPOCHS), 1);
  ASSERT_EQ(vae_interrupt(h.t), VAE_OK);
  double elbo = 0, twin_elbo = 0;
  EXPECT_EQ(vae_evaluate_dataset(h.t, h.ds, &elbo, nullptr, nullptr), VAE_OK);
  EXPECT_EQ(vae_evaluate_dataset(twin.t, twin.ds, &twin_elbo, nullptr, nullptr), VAE_OK);
  EXPECT_EQ(elbo, twin_elbo);
}

TEST(Interrupt, ANullTrainerIsRefused) {
  EXPECT_EQ(vae_interrupt(nullptr), VAE_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(vae_last_error(), "t: NULL");
}

// Another thread interrupts over and over while the dataset evaluations run
// (1000 chunks of kBatch rows): a call it stops writes no output and changes
// nothing, so the twin that was never interrupted then agrees.
TEST(Interrupt, DatasetEvaluationsStopBetweenChunksAndChangeNothing) {
  Handles h(1000 * kBatch), twin(1000 * kBatch);
  // Chunks of one tile: 8 of them for the ELBO, 24 for 3 samples a row.
  for (vae_trainer* t : {h.t, twin.t}) ASSERT_EQ(vae_set_int(t, VAE_OPT_EVAL_ROWS, 512), VAE_OK);
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done.load()) {
      EXPECT_EQ(vae_interrupt(h.t), VAE_OK);
      std::this_thread::yield();
    }
  });
  int interrupted_evaluations = 0, interrupted_likelihoods = 0;
  for (int attempt = 0; attempt < 200 && (interrupted_evaluations == 0 || interrupted_likelihoods == 0);
       ++attempt) {
    double elbo = 123.0, log_px = 123.0;
    const vae_status e = vae_evaluate_dataset(h.t, h.ds, &elbo, nullptr, nullptr);
    if (e == VAE_ERROR_INTERRUPTED) {
      ++interrupted_evaluations;
      EXPECT_EQ(elbo, 123.0);
      EXPECT_NE(std::string(vae_last_error()).find("vae_evaluate_dataset: interrupted"),
                std::string::npos);
    } else {
      ASSERT_EQ(e, VAE_OK);
      ASSERT_EQ(vae_evaluate_dataset(twin.t, twin.ds, nullptr, nullptr, nullptr), VAE_OK);
    }
    const vae_status l = vae_log_likelihood_dataset(h.t, h.ds, 3, VAE_ESTIMATOR_IMPORTANCE, &log_px);
    if (l == VAE_ERROR_INTERRUPTED) {
      ++interrupted_likelihoods;
      EXPECT_EQ(log_px, 123.0);
    } else {
      ASSERT_EQ(l, VAE_OK);
      ASSERT_EQ(vae_log_likelihood_dataset(twin.t, twin.ds, 3, VAE_ESTIMATOR_IMPORTANCE, &log_px),
                VAE_OK);
    }
  }
  done = true;
  interrupter.join();
  EXPECT_GT(interrupted_evaluations, 0);
  EXPECT_GT(interrupted_likelihoods, 0);
  // The twin made the same successful calls: both have drawn alike.
  double a = 0, b = 0;
  ASSERT_EQ(vae_log_likelihood_dataset(h.t, h.ds, 3, VAE_ESTIMATOR_IMPORTANCE, &a), VAE_OK);
  ASSERT_EQ(vae_log_likelihood_dataset(twin.t, twin.ds, 3, VAE_ESTIMATOR_IMPORTANCE, &b), VAE_OK);
  EXPECT_EQ(a, b);
  EXPECT_EQ(h.get(VAE_OPT_STEPS), 0);
}

}  // namespace
}  // namespace vae
