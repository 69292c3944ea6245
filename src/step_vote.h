// What ranks sharing a step must agree on, as the words of their vote
// (kernels/shared_step.h): hashes of the step's layout, of the counters the
// host keeps, and of the training options, so that ranks that would compute
// different steps (different row counts, datasets, counters, seeds, learning
// rates, ...) find out together and skip the step rather than drift apart.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "config.h"
#include "shared_step.h"

namespace vae {

// The first value of a layout: which call the step belongs to.
enum class StepKind : int64_t { kTrainStep = 1, kEpochStep = 2 };

// layout: the values that fix the step's shape (its kind first); epochs:
// the trainer's epoch count. The options word covers the configuration
// that changes what a step computes, not the threads, TF32, device,
// backend, maximum batch or rank, which may differ between ranks.
StepVote step_vote(const Config& config, int64_t epochs, std::initializer_list<int64_t> layout);

}  // namespace vae
