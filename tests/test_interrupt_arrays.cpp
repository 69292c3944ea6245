// vae_interrupt stops the array calls too (vae.h): vae_log_likelihood,
// vae_evaluate, vae_encode, vae_decode and vae_sample check it between
// chunks, so a call of hours (log_likelihood with k = 2^31 - 1) can be
// stopped. Another thread interrupts every 20 ms until the call returns
// (the likelihood here would take about 20 s uninterrupted); the call must
// return VAE_ERROR_INTERRUPTED, which before the checks it never did.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "vae/vae.h"

namespace {

constexpr int64_t kDim = 4;

struct Interrupted {
  vae_status status = VAE_OK;
  std::string message;
  double seconds = 0;
};

// Runs call() while another thread interrupts t every 20 ms.
Interrupted interrupt_while(vae_trainer* t, const std::function<vae_status()>& call) {
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      vae_interrupt(t);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  Interrupted r;
  r.status = call();
  r.message = vae_last_error();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done.store(true);
  interrupter.join();
  return r;
}

class InterruptArrays : public ::testing::Test {
 protected:
  void SetUp() override {
    vae_config* c = nullptr;
    ASSERT_EQ(vae_config_create(&c), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, 1), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_EVAL_ROWS, 512), VAE_OK);
    ASSERT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 64), VAE_OK);
    const int32_t widths[] = {2};
    ASSERT_EQ(vae_config_set_hidden_layers(c, widths, 1), VAE_OK);
    ASSERT_EQ(vae_create(c, &t_), VAE_OK);
    vae_config_destroy(c);
  }
  void TearDown() override { vae_destroy(t_); }

  void expect_stopped(const Interrupted& r, const char* call) {
    EXPECT_EQ(r.status, VAE_ERROR_INTERRUPTED) << call << ": " << r.message;
    EXPECT_NE(r.message.find(call), std::string::npos) << r.message;
    EXPECT_LT(r.seconds, 5.0) << call;
    // Nothing of the trainer changed: the next call runs as usual.
    float out[kDim] = {};
    EXPECT_EQ(vae_sample(t_, 1, out), VAE_OK) << vae_last_error();
  }

  vae_trainer* t_ = nullptr;
};

TEST_F(InterruptArrays, LogLikelihoodWithAHugeKStops) {
  const float x[kDim] = {0, 1, 0, 1};
  float log_px = 0;
  expect_stopped(interrupt_while(t_, [&] {
                   return vae_log_likelihood(t_, x, 1, 200000000, VAE_ESTIMATOR_IMPORTANCE,
                                             &log_px);
                 }),
                 "vae_log_likelihood");
}

TEST_F(InterruptArrays, SampleEncodeAndDecodeOfManyRowsStop) {
  const int64_t n = 10000000;  // 160 MB of output; under a second a call uninterrupted
  std::vector<float> out(static_cast<size_t>(n * kDim));
  expect_stopped(interrupt_while(t_, [&] { return vae_sample(t_, n, out.data()); }),
                 "vae_sample");
  std::vector<float> z(static_cast<size_t>(n), 0.5f);
  expect_stopped(interrupt_while(t_, [&] { return vae_decode(t_, z.data(), n, out.data()); }),
                 "vae_decode");
  std::vector<float> x(static_cast<size_t>(n) * kDim / 4, 1.0f);
  std::vector<float> mu(static_cast<size_t>(n) / 4);
  expect_stopped(interrupt_while(t_, [&] {
                   return vae_encode(t_, x.data(), n / 4, mu.data(), nullptr);
                 }),
                 "vae_encode");
}

// An interrupt while no call runs has no effect on the next one.
TEST_F(InterruptArrays, AnInterruptBeforeACallIsForgotten) {
  ASSERT_EQ(vae_interrupt(t_), VAE_OK);
  const float x[kDim] = {0, 1, 0, 1};
  float log_px = 0;
  EXPECT_EQ(vae_log_likelihood(t_, x, 1, 5000, VAE_ESTIMATOR_IMPORTANCE, &log_px), VAE_OK)
      << vae_last_error();
}

}  // namespace
