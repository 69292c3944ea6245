// A training step shared by ranks (vae_set_allreduce): what each rank adds
// after its gradient in the buffer the hook sums across the ranks, and the
// verdict every rank reads from the sums. The verdict depends on the sums
// and the world size alone, so every rank reaches the same one, and the
// ranks take or skip each step together and stay alike. Both backends run
// these functions (the CUDA backend in one-thread kernels), so the CPU tests
// check the rules the GPU follows.
//
// The tail, kShareTailFloats floats after the gradient:
//   [0]        the sum of the rank's row losses (nats);
//   [1], [2]   its rows, as rows / 4096 and rows % 4096;
//   [3]        1: the sum counts the ranks;
//   [4]        1 when the rank refused its part of the step (its input), else 0;
//   [5, 101)   its vote: the 96 bits, as 0 or 1, of three words hashing what
//              the ranks must agree on: the step's layout, their counters,
//              their training options (a rank that refused votes no bit);
//   [101]      1 when the rank was asked to stop its epoch (vae_interrupt),
//              so that every rank stops at the same step (Trainer::train_epoch);
//   the rest   0.
// Every count the ranks sum stays below 2^24 (at most 4096 ranks of at most
// 2^20 rows), so float adds it exactly in any order; a loss or gradient that
// is not finite on any rank makes the sums not finite on every rank, and
// the finite check after the sum skips the step everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "host_device.h"
#include "step_state.h"

namespace vae {

// A multiple of 64 floats, so the buffers after it keep the CUDA backend's
// 256-byte alignment.
constexpr int64_t kShareTailFloats = 128;

// Floats kept right after the allreduce hook's buffer (the gradient and its
// tail), each filled with kHookGuardValue before each hook call: a hook
// that writes a little past its buffer writes there, not into Adam's
// moments, and the step sees it (vae.h).
constexpr int64_t kHookGuardFloats = 32;
// A value no sum of gradients plausibly writes.
constexpr float kHookGuardValue = -7.7e37f;

// The bits of f, so that a comparison sees a NaN written over a NaN.
VAE_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

// The first guard float a hook changed (its bits, so a NaN is a change
// too), or -1 when none.
VAE_HD int64_t touched_guard_float(const float* guard) {
  const float expected = kHookGuardValue;
  for (int64_t e = 0; e < kHookGuardFloats; ++e) {
    if (float_bits(guard[e]) != float_bits(expected)) return e;
  }
  return -1;
}
constexpr int kVoteWords = 3;
constexpr int64_t kRowsRadix = 4096;

enum ShareSlot : int {
  kLossSumSlot = 0,
  kRowsHighSlot = 1,
  kRowsLowSlot = 2,
  kRanksSlot = 3,
  kRefusedSlot = 4,
  kVoteSlot = 5,
  kStopSlot = kVoteSlot + 96,
};

// What the ranks disagreed about: bits of StepState::disagreement.
enum Disagreement : int32_t {
  kDisagreeLayout = 1,    // the step's layout: row counts, dataset size, batch, world size
  kDisagreeCounters = 2,  // step, Adam or epoch counters, or the epoch's position
  kDisagreeOptions = 4,   // training options (seed, learning rate, objective, ...)
  kDisagreeRanks = 8,     // the number of ranks that took part is not the world size
  kDisagreeRows = 16,     // the ranks' rows do not add up to the batch
  kDisagreeSums = 32,     // the hook returned counts that are not whole numbers
};

// The vote's words: [0] layout and [2] options hashed on the host; [1] the
// host's part of the counters (the epoch count), which vote_counters mixes
// with the step state's counters where the step runs.
struct StepVote {
  uint32_t words[kVoteWords];
};

// One round of splitmix64's finalizer over h ^ v: a 64-bit hash step.
VAE_HD uint64_t mix_hash(uint64_t h, uint64_t v) {
  uint64_t z = h ^ (v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

VAE_HD uint32_t fold_hash(uint64_t h) { return static_cast<uint32_t>(h ^ (h >> 32)); }

// The counters word: the host's part mixed with the counters the step state
// holds when the step runs (on the GPU, only the device knows them then).
VAE_HD uint32_t vote_counters(uint32_t host, const StepState& s) {
  uint64_t h = mix_hash(host, static_cast<uint64_t>(s.steps));
  h = mix_hash(h, static_cast<uint64_t>(s.encoder_steps));
  h = mix_hash(h, static_cast<uint64_t>(s.decoder_steps));
  h = mix_hash(h, static_cast<uint64_t>(s.cursor));
  return fold_hash(h);
}

// Slots 1.. of a rank's tail, for its `rows` rows; slot 0, the loss sum, is
// the backend's sum of its row losses. A rank refuses its part when
// `refused` (its arguments or host input were refused) or its input was
// refused on the device (s.input_refused): it then adds no rows and no vote.
// `stop`: the rank asks the ranks to stop the epoch (a refusing rank too).
// T is float (the CPU's double instantiation, for tests, never shares steps).
template <class T>
VAE_HD void write_share_tail(T* tail, int64_t rows, bool refused, bool stop, const StepVote& vote,
                             const StepState& s) {
  const bool refuses = refused || s.input_refused != 0;
  for (int64_t e = 1; e < kShareTailFloats; ++e) tail[e] = T(0);
  tail[kRanksSlot] = T(1);
  tail[kStopSlot] = stop ? T(1) : T(0);
  if (refuses) {
    tail[kRefusedSlot] = T(1);
    return;
  }
  tail[kRowsHighSlot] = static_cast<T>(rows / kRowsRadix);
  tail[kRowsLowSlot] = static_cast<T>(rows % kRowsRadix);
  const uint32_t words[kVoteWords] = {vote.words[0], vote_counters(vote.words[1], s),
                                      vote.words[2]};
  for (int w = 0; w < kVoteWords; ++w) {
    for (int bit = 0; bit < 32; ++bit) {
      tail[kVoteSlot + 32 * w + bit] = static_cast<T>((words[w] >> bit) & 1u);
    }
  }
}

// A summed count as an integer; false when it is not a whole number in
// [0, 2^24] (a hook that did not sum).
template <class T>
VAE_HD bool summed_count(T v, int64_t* count) {
  if (!(v >= T(0) && v <= T(16777216))) return false;
  const auto whole = static_cast<int64_t>(v);
  if (static_cast<T>(whole) != v) return false;
  *count = whole;
  return true;
}

// What the summed tail says the ranks disagree about (0: nothing), for
// `world` ranks sharing a batch of `batch_rows` rows.
template <class T>
VAE_HD int32_t share_disagreement(const T* tail, int64_t world, int64_t batch_rows) {
  int32_t d = 0;
  int64_t ranks = 0, refusing = 0;
  if (!summed_count(tail[kRanksSlot], &ranks) || !summed_count(tail[kRefusedSlot], &refusing) ||
      refusing > ranks) {
    return kDisagreeSums;
  }
  if (ranks != world) d |= kDisagreeRanks;
  int64_t stopping = 0;
  if (!summed_count(tail[kStopSlot], &stopping) || stopping > ranks) return kDisagreeSums;
  const int64_t voters = ranks - refusing;
  const int32_t categories[kVoteWords] = {kDisagreeLayout, kDisagreeCounters, kDisagreeOptions};
  for (int w = 0; w < kVoteWords; ++w) {
    for (int bit = 0; bit < 32; ++bit) {
      int64_t votes = 0;
      if (!summed_count(tail[kVoteSlot + 32 * w + bit], &votes)) return kDisagreeSums;
      if (votes != 0 && votes != voters) d |= categories[w];
    }
  }
  int64_t high = 0, low = 0;
  if (!summed_count(tail[kRowsHighSlot], &high) || !summed_count(tail[kRowsLowSlot], &low)) {
    return kDisagreeSums;
  }
  if (refusing == 0 && high * kRowsRadix + low != batch_rows) d |= kDisagreeRows;
  return d;
}

// After the sum: the step's verdict and its mean loss. A step the ranks
// disagree about, or that a rank refused, is marked bad (skipped) with its
// reason counted; *loss = the summed loss / batch_rows (NaN for an empty
// batch), which the finite check then reads.
// The ranks that asked to stop are counted in s->stop_votes whatever the
// verdict (0 where the sums are not counts: kDisagreeSums says why).
// A step whose hook wrote into the guard after the tail (float tails only;
// kHookGuardFloats of them right after it) is skipped on this rank, counted
// in s->overrun_steps with the first float it changed.
template <class T>
VAE_HD void accept_share_tail(StepState* s, const T* tail, int64_t world, int64_t batch_rows,
                              T* loss) {
  *loss = batch_rows > 0 ? tail[kLossSumSlot] / static_cast<T>(batch_rows) : T(NAN);
  int64_t stop_votes = 0;
  s->stop_votes = summed_count(tail[kStopSlot], &stop_votes) ? static_cast<int32_t>(stop_votes) : 0;
  if constexpr (sizeof(T) == sizeof(float)) {
    const int64_t touched = touched_guard_float(tail + kShareTailFloats);
    if (touched >= 0) {
      s->bad = 1;
      s->overrun_float = touched;
      s->overrun_value = tail[kShareTailFloats + touched];
      ++s->overrun_steps;
      return;
    }
  }
  const int32_t disagreement = share_disagreement(tail, world, batch_rows);
  if (disagreement != 0) {
    s->bad = 1;
    s->disagreement = disagreement;
    ++s->disagreed_steps;
    return;
  }
  int64_t refusing = 0;
  summed_count(tail[kRefusedSlot], &refusing);
  if (refusing > 0) {
    s->bad = 1;
    s->refusing_ranks = static_cast<int32_t>(refusing);
    ++s->refused_steps;
  }
}

}  // namespace vae
