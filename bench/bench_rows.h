// The benchmarks' input: binary rows (each pixel 1 with probability 0.3)
// from a fixed seed, the same for every program; and the default model
// (784-400-20, Bernoulli) on the CPU backend.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "config.h"

inline std::vector<float> binary_rows(int64_t rows, int64_t dim) {
  std::mt19937 rng(1);
  std::bernoulli_distribution bit(0.3);
  std::vector<float> x(static_cast<size_t>(rows * dim));
  for (float& v : x) v = bit(rng) ? 1.0f : 0.0f;
  return x;
}

inline vae::Config default_cpu_config(int64_t threads) {
  vae::Config c;
  c.backend = VAE_BACKEND_CPU;
  c.threads = threads;
  return c;
}
