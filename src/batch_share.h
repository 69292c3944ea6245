// A rank's part of a batch that ranks share (vae_set_allreduce): rank r of W
// takes rows floor(B r / W) .. floor(B (r + 1) / W) - 1 of a batch of B rows,
// contiguous and in rank order, the parts differing by at most one row (a
// part may be empty when B < W).
#pragma once

#include <cstdint>

namespace vae {

struct BatchShare {
  int64_t first = 0;  // this rank's first row within the batch
  int64_t rows = 0;   // this rank's rows
  int64_t batch = 0;  // the batch's rows, all ranks together
};

// B r stays below 2^63: B is at most 4096 * 2^20 rows, r below 4096.
inline BatchShare share_of_batch(int64_t batch, int64_t rank, int64_t world) {
  BatchShare s;
  s.first = batch * rank / world;
  s.rows = batch * (rank + 1) / world - s.first;
  s.batch = batch;
  return s;
}

}  // namespace vae
