// An epoch's order of the dataset's rows, the same on every backend: row i
// gets the 64-bit sort key formed by words 0 and 1 of Philox block i of the
// epoch's noise key, and the rows are ordered by (sort key, i). Sorting
// independent uniform keys gives a uniformly random permutation (two equal
// keys, probability below n^2 / 2^65, keep their index order), and a sort
// parallelizes where Fisher-Yates does not: the CUDA backend draws the keys
// in a kernel and orders them with a stable radix sort, which yields exactly
// the order of the host's sort of (key, index) pairs below.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "host_device.h"
#include "philox.h"

namespace vae {

VAE_HD uint64_t shuffle_key(const NoiseKey& key, uint64_t row) {
  const Philox4 r = philox_block(key, row);
  return (uint64_t{r.v[0]} << 32) | r.v[1];
}

// order[0..n) = the rows of an n-row dataset in the epoch's order.
inline void epoch_permutation(const NoiseKey& key, int64_t n, int64_t* order) {
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keyed[static_cast<size_t>(i)] = {shuffle_key(key, static_cast<uint64_t>(i)), i};
  std::sort(keyed.begin(), keyed.end());
  for (int64_t i = 0; i < n; ++i) order[i] = keyed[static_cast<size_t>(i)].second;
}

}  // namespace vae
