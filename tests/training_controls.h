// The learning-rate schedules and gradient clipping checked the same way on
// either backend: test_training_controls.cpp runs these on the CPU,
// test_cuda_training_controls.cpp on the CUDA backend (a GPU or the
// simulated device). Each check takes a maker of trainers of its backend.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_support.h"
#include "trainer.h"

namespace vae::testing {

using TrainerMaker = std::function<std::unique_ptr<Trainer>(const Config&)>;

// The rate of step t (after t steps taken), written from vae.h's text
// rather than from the library's function: warm-up lr (t + 1) / W, then the
// schedule's decay over D steps to the final rate.
inline double expected_rate(int schedule, double lr, int64_t warmup, int64_t decay,
                            double final_rate, int64_t t) {
  if (t < warmup) return lr * static_cast<double>(t + 1) / static_cast<double>(warmup);
  if (schedule == VAE_SCHEDULE_CONSTANT) return lr;
  if (t >= warmup + decay) return final_rate;
  const double progress = static_cast<double>(t - warmup) / static_cast<double>(decay);
  if (schedule == VAE_SCHEDULE_LINEAR) return lr - (lr - final_rate) * progress;
  return final_rate + 0.5 * (lr - final_rate) * (1.0 + std::cos(M_PI * progress));
}

// A model whose step the schedule and clipping change visibly.
inline Config controls_config() {
  Config c = small_config();
  c.learning_rate = 0.02;
  c.adam_epsilon = 0.05;  // large, so that a gradient's scale shows in Adam's step
  c.seed = 7;
  return c;
}

// For steps 0..11 of a schedule of 3 warm-up and 5 decay steps: the rate
// read before the step is the formula's, and the step equals that of a
// trainer loaded from the same state with the formula's rate held
// constant, bit for bit: so the step took that rate, computed where the
// backend runs the step (on the CUDA backend from the device's counter, in
// a captured graph after the first step).
inline void check_schedule(const TrainerMaker& make, int backend, int schedule,
                           const std::string& directory) {
  Config c = controls_config();
  c.backend = backend;
  c.warmup_steps = 3;
  c.decay_steps = 5;
  c.final_learning_rate = 0.002;
  c.lr_schedule = schedule;
  std::unique_ptr<Trainer> scheduled = make(c);
  const int64_t n = c.max_batch;
  const std::vector<float> x = binary(static_cast<size_t>(n * c.input_dim), 41);
  const std::string path = directory + "/schedule.safetensors";
  for (int64_t t = 0; t < 12; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    const double rate = expected_rate(schedule, c.learning_rate, 3, 5, 0.002, t);
    EXPECT_NEAR(scheduled->get_float(VAE_OPT_NEXT_LEARNING_RATE), rate, 1e-15 * rate);
    scheduled->save(path);
    std::unique_ptr<Trainer> constant = Trainer::load(path, backend);
    constant->set_int(VAE_OPT_LR_SCHEDULE, VAE_SCHEDULE_CONSTANT);
    constant->set_int(VAE_OPT_WARMUP_STEPS, 0);
    constant->set_float(VAE_OPT_LEARNING_RATE, rate);
    scheduled->train_step(x.data(), n, nullptr);
    constant->train_step(x.data(), n, nullptr);
    ASSERT_EQ(parameters_of(*scheduled), parameters_of(*constant));
  }
}

// One reference step of torch.nn.utils.clip_grad_norm_(max_norm = clip)
// then torch.optim.Adam, in double, on the flat parameters p with moments
// m and v at Adam's step t.
inline void reference_clipped_adam(std::vector<double>* p, std::vector<double>* m,
                                   std::vector<double>* v, const std::vector<double>& g,
                                   double clip, const Config& c, int64_t t) {
  double squares = 0;
  for (double e : g) squares += e * e;
  const double norm = std::sqrt(squares);
  const double coef = std::min(1.0, clip / (norm + 1e-6));
  const double b1 = c.adam_beta1, b2 = c.adam_beta2;
  const double step_size = c.learning_rate / (1 - std::pow(b1, static_cast<double>(t)));
  const double bias2_sqrt = std::sqrt(1 - std::pow(b2, static_cast<double>(t)));
  for (size_t e = 0; e < g.size(); ++e) {
    const double grad = g[e] * coef;
    (*m)[e] = b1 * (*m)[e] + (1 - b1) * grad;
    (*v)[e] = b2 * (*v)[e] + (1 - b2) * grad * grad;
    (*p)[e] -= step_size * (*m)[e] / (std::sqrt((*v)[e]) / bias2_sqrt + c.adam_epsilon);
  }
}

// Three steps with clipping at half the first gradient's norm (the first
// step clipped, later ones as their norms fall): after each, the parameters
// equal the double reference's within `tolerance` (relative), and
// VAE_OPT_GRAD_NORM reads the gradient's norm before clipping, summed in
// double (relative 1e-12).
inline void check_clipping(const TrainerMaker& make, int backend, double tolerance) {
  Config c = controls_config();
  c.backend = backend;
  std::unique_ptr<Trainer> t = make(c);
  const int64_t n = c.max_batch;
  const std::vector<float> x = binary(static_cast<size_t>(n * c.input_dim), 43);
  std::vector<double> p, m, v;
  for (float e : parameters_of(*t)) p.push_back(e);
  m.assign(p.size(), 0.0);
  v.assign(p.size(), 0.0);
  double clip = 0;
  bool clipped_once = false;
  for (int64_t step = 1; step <= 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const std::vector<float> eps =
        normal(static_cast<size_t>(n * c.samples * c.latent_dim), 50 + static_cast<uint32_t>(step));
    std::vector<double> g;
    t->loss_and_gradient(x.data(), n, eps.data(), &g);
    double squares = 0;
    for (double e : g) squares += e * e;
    const double norm = std::sqrt(squares);
    if (step == 1) {
      clip = norm / 2;
      t->set_float(VAE_OPT_CLIP_NORM, clip);
    }
    clipped_once |= norm > clip;
    reference_clipped_adam(&p, &m, &v, g, clip, c, step);
    t->train_step_with_noise(x.data(), n, eps.data(), nullptr);
    EXPECT_NEAR(t->get_float(VAE_OPT_GRAD_NORM), norm, 1e-12 * norm);
    const std::vector<float> got = parameters_of(*t);
    ASSERT_EQ(got.size(), p.size());
    size_t bad = 0;
    for (size_t e = 0; e < p.size(); ++e) {
      bad += !(std::fabs(got[e] - p[e]) <= tolerance * std::max(1.0, std::fabs(p[e])));
    }
    EXPECT_EQ(bad, 0u) << "of " << p.size() << " parameters";
  }
  EXPECT_TRUE(clipped_once);
}

// A run with a schedule and clipping saved midway and loaded goes on
// exactly as the run that was not stopped.
inline void check_resume(const TrainerMaker& make, int backend, const std::string& directory) {
  Config c = controls_config();
  c.backend = backend;
  c.warmup_steps = 2;
  c.decay_steps = 6;
  c.lr_schedule = VAE_SCHEDULE_COSINE;
  c.final_learning_rate = 1e-4;
  c.clip_norm = 0.5;
  std::unique_ptr<Trainer> whole = make(c);
  const int64_t n = c.max_batch;
  const std::vector<float> x = binary(static_cast<size_t>(n * c.input_dim), 45);
  for (int s = 0; s < 3; ++s) whole->train_step(x.data(), n, nullptr);
  const std::string path = directory + "/resume.safetensors";
  whole->save(path);
  std::unique_ptr<Trainer> resumed = Trainer::load(path, backend);
  EXPECT_EQ(resumed->config().lr_schedule, VAE_SCHEDULE_COSINE);
  EXPECT_EQ(resumed->config().warmup_steps, 2);
  EXPECT_EQ(resumed->config().decay_steps, 6);
  EXPECT_EQ(resumed->config().final_learning_rate, 1e-4);
  EXPECT_EQ(resumed->config().clip_norm, 0.5);
  EXPECT_EQ(resumed->get_float(VAE_OPT_NEXT_LEARNING_RATE),
            whole->get_float(VAE_OPT_NEXT_LEARNING_RATE));
  for (int s = 0; s < 6; ++s) {
    whole->train_step(x.data(), n, nullptr);
    resumed->train_step(x.data(), n, nullptr);
  }
  EXPECT_EQ(parameters_of(*whole), parameters_of(*resumed));
  EXPECT_EQ(whole->get_float(VAE_OPT_GRAD_NORM), resumed->get_float(VAE_OPT_GRAD_NORM));
}

}  // namespace vae::testing
