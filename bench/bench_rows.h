// The benchmarks' input: binary rows (each pixel 1 with probability 0.3)
// from a fixed seed, the same for every program.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

inline std::vector<float> binary_rows(int64_t rows, int64_t dim) {
  std::mt19937 rng(1);
  std::bernoulli_distribution bit(0.3);
  std::vector<float> x(static_cast<size_t>(rows * dim));
  for (float& v : x) v = bit(rng) ? 1.0f : 0.0f;
  return x;
}
