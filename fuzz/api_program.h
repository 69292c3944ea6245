// The encoding of fuzz_api_calls's input: a program of C-API calls read from
// the front of the bytes, one byte per choice (taken modulo the number of
// choices, so every byte string is a program), zeros once the bytes run out.
// ProgramWriter writes the same encoding, for the seed corpus.
#pragma once

#include <algorithm>
#include <cfloat>
#include <iterator>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "vae/vae.h"

namespace vae_fuzz {

// The calls a program makes, one byte each, followed by their arguments.
enum class Op : std::uint8_t {
  kSetInt,             // option, int value
  kSetFloat,           // option, float value
  kGetInt,             // option
  kGetFloat,           // option
  kTrainStep,          // rows, data, null mask
  kEvaluate,           // rows, data, null mask
  kLogLikelihood,      // rows, data, null mask, k, estimator
  kEncode,             // rows, data, null mask
  kDecode,             // rows, data (the latents), null mask
  kSample,             // rows, null mask
  kGetParameters,      // count offset, null mask
  kSetParameters,      // count offset, data, null mask
  kParameterCount,     // null mask
  kSave,               // path kind
  kLoad,               // backend, keep
  kLoadDamaged,        // damage kind, position, value
  kDatasetCreate,      // rows, data, null mask
  kDatasetCreateBytes, // rows, data, null mask, transform
  kDatasetDestroy,     // dataset
  kDatasetSize,        // dataset, null mask
  kTrainEpoch,         // dataset, batch, null mask
  kEvaluateDataset,    // dataset, null mask
  kLogLikelihoodDataset,  // dataset, k, estimator, null mask
  kSetProgress,        // on/off; when on, the progress call that interrupts (0: none)
  kForeignDataset,     // rows, data
  kStatusString,       // int value
  kInterrupt,          // null mask (no long call runs: no effect)
  kSetAllreduce,       // behaviour, then its status and message, or position and value
  kLogLikelihoodStats,         // rows, data, likelihood options, null mask, out size
  kLogLikelihoodStatsDataset,  // dataset, likelihood options, null mask, out size
  kLatentUsage,                // dataset, usage options, null mask, out size
  kRefinePosterior,            // rows, data, refine options, null mask, out size
  // The calls of a conditional model (api_conditions.cpp): a vae_rows
  // (ApiSession::rows_argument), then the namesake's arguments.
  kTrainStepRows,              // vae_rows, null mask
  kEvaluateRows,               // vae_rows, null mask
  kLogLikelihoodRows,          // vae_rows, k, estimator, null mask
  kLogLikelihoodStatsRows,     // vae_rows, likelihood options, null mask, out size
  kEncodeRows,                 // vae_rows, null mask
  kDecodeRows,                 // vae_rows (data: the latents), null mask
  kSampleRows,                 // vae_rows (no data), data given, null mask
  kRefinePosteriorRows,        // vae_rows, refine options, null mask, out size
  kDatasetSetConditions,       // dataset, n, other trainer, floats, null mask
  kDatasetSetLabels,           // dataset, n, other trainer, labels, null mask
  kCount
};

// Special float inputs a data batch can carry at one position.
inline const float kSpecialFloats[] = {
    std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
    -std::numeric_limits<float>::infinity(), -1.0f, 2.0f, 1e30f, FLT_MAX, -FLT_MAX,
    FLT_TRUE_MIN, -0.0f, 1.0f + FLT_EPSILON, -FLT_TRUE_MIN};

inline const std::int64_t kSpecialInts[] = {
    0, 1, 2, 3, -1, 4, 7, 255, 256, 257, 4096, 4097, int64_t{1} << 20, (int64_t{1} << 20) + 1,
    int64_t{1} << 24, (int64_t{1} << 24) + 1, 65536, 65537, std::numeric_limits<int32_t>::max(),
    int64_t{9'200'000'000'000'000'000}, std::numeric_limits<int64_t>::max(),
    std::numeric_limits<int64_t>::min(), -256};

inline const double kSpecialDoubles[] = {
    std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
    -std::numeric_limits<double>::infinity(), 0.0, -0.0, 1e-300, 5e-324, 1e-8, 1e-3, 0.5, 0.9,
    0.999, 1.0 - DBL_EPSILON / 2, 1.0, 2.0, 1.5, 3.0, 30.0, 30.000001, -30.0, -31.0, 1e6,
    1e6 + 1, 1e30, 9.2e18, 9.3e18, -9.3e18, 1e300, DBL_MAX, 256.0, 257.0, 4096.0};

// The options a program names: -2..kLastOptionDrawn (every option and a few
// that do not exist), then INT_MIN and INT_MAX.
constexpr int kLastOptionDrawn = VAE_OPT_CONDITION_DIM + 1;
constexpr std::size_t kOptionChoices = kLastOptionDrawn + 3 + 2;

// Batches of 32 rows and more are where the CPU backend's thread pool splits
// the products between threads.
inline const std::int64_t kMaxBatches[] = {1, 2, 3, 4, 33, 40};

// The trainer a program starts with: the program's first bytes.
struct TrainerChoices {
  std::int64_t input_dim = 4;         // 1..6
  std::int64_t latent_dim = 2;        // 1..3
  std::int64_t max_batch = 3;         // one of kMaxBatches
  std::int64_t threads = 1;           // 1..3
  std::vector<std::int32_t> hidden;   // 0..2 layers of 1..6
  std::int64_t samples = 1;           // 1..3
  int likelihood = VAE_LIKELIHOOD_BERNOULLI;
  int variance = VAE_VARIANCE_FIXED;
  int activation = VAE_ACTIVATION_RELU;
  int objective = VAE_OBJECTIVE_ELBO;
  int update = VAE_UPDATE_ALL;
  std::uint8_t seed = 1;
  std::int64_t condition_dim = 0;     // 0..3, 0 half the time
};

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return position_ >= size_; }
  std::uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  std::size_t choice(std::size_t n) { return byte() % n; }
  bool one_in(std::size_t n) { return choice(n) == 0; }

  TrainerChoices trainer_choices() {
    TrainerChoices c;
    c.input_dim = 1 + static_cast<std::int64_t>(choice(6));
    c.latent_dim = 1 + static_cast<std::int64_t>(choice(3));
    c.max_batch = kMaxBatches[choice(std::size(kMaxBatches))];
    c.threads = 1 + static_cast<std::int64_t>(choice(3));
    c.hidden.resize(choice(3));
    for (std::int32_t& w : c.hidden) w = 1 + static_cast<std::int32_t>(choice(6));
    c.samples = 1 + static_cast<std::int64_t>(choice(3));
    c.likelihood = static_cast<int>(choice(2));
    c.variance = static_cast<int>(choice(3));
    c.activation = static_cast<int>(choice(2));
    c.objective = static_cast<int>(choice(2));
    c.update = static_cast<int>(choice(3));
    c.seed = byte();
    const auto condition = static_cast<std::int64_t>(choice(6));
    c.condition_dim = condition < 3 ? 0 : condition - 2;
    return c;
  }

  // A byte below 128 picks a special value; otherwise the next 8 bytes are
  // the value itself.
  std::int64_t int_value() {
    const std::uint8_t b = byte();
    if (b < 128) return kSpecialInts[b % std::size(kSpecialInts)];
    std::int64_t v = 0;
    for (int i = 0; i < 8; ++i) v = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) << 8 | byte());
    return v;
  }
  double double_value() {
    const std::uint8_t b = byte();
    if (b < 128) return kSpecialDoubles[b % std::size(kSpecialDoubles)];
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = bits << 8 | byte();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  int option() {
    const std::size_t c = choice(kOptionChoices);
    if (c == kOptionChoices - 2) return std::numeric_limits<int>::min();
    if (c == kOptionChoices - 1) return std::numeric_limits<int>::max();
    return static_cast<int>(c) - 2;
  }
  // A row count for a call whose buffers hold `limit` rows: 1..limit, or 0,
  // -1 or INT64_MIN.
  std::int64_t rows(std::int64_t limit) {
    const auto c = static_cast<std::int64_t>(choice(static_cast<std::size_t>(limit) + 3));
    if (c == 0) return 0;
    if (c == 1) return -1;
    if (c == 2) return std::numeric_limits<std::int64_t>::min();
    return c - 2;
  }
  // count floats: from a seed byte, binary, uniform in [0, 1] or in [-3, 3];
  // or uniform in [0, 1] with one special value at a chosen position.
  std::vector<float> floats(std::size_t count) {
    std::uint32_t state = 0x9e3779b9u ^ byte();
    const std::size_t kind = choice(4);
    std::vector<float> v(count);
    for (float& x : v) {
      state = state * 1664525u + 1013904223u;
      const float u = static_cast<float>(state >> 8) / 16777216.0f;
      x = kind == 0 ? (u < 0.4f ? 1.0f : 0.0f) : kind == 2 ? 6.0f * u - 3.0f : u;
    }
    if (kind == 3) {
      const std::size_t at = byte() % count;
      v[at] = kSpecialFloats[choice(std::size(kSpecialFloats))];
    }
    return v;
  }
  std::vector<std::uint8_t> bytes(std::size_t count) {
    std::uint32_t state = 0x85ebca6bu ^ byte();
    std::vector<std::uint8_t> v(count);
    for (std::uint8_t& x : v) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<std::uint8_t>(state >> 24);
    }
    return v;
  }
  // Which pointer arguments of a call are NULL: bit i for argument i, in one
  // call of eight.
  unsigned null_mask() {
    const std::uint8_t b = byte();
    return b < 224 ? 0u : static_cast<unsigned>(b - 224);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

// Writes programs in the encoding ByteReader reads.
class ProgramWriter {
 public:
  ProgramWriter& byte(std::uint8_t b) {
    bytes_.push_back(b);
    return *this;
  }
  ProgramWriter& op(Op o) { return byte(static_cast<std::uint8_t>(o)); }
  ProgramWriter& trainer(const TrainerChoices& c) {
    byte(static_cast<std::uint8_t>(c.input_dim - 1)).byte(static_cast<std::uint8_t>(c.latent_dim - 1));
    const auto batch = std::find(std::begin(kMaxBatches), std::end(kMaxBatches), c.max_batch);
    byte(static_cast<std::uint8_t>(batch - std::begin(kMaxBatches)));
    byte(static_cast<std::uint8_t>(c.threads - 1));
    byte(static_cast<std::uint8_t>(c.hidden.size()));
    for (const std::int32_t w : c.hidden) byte(static_cast<std::uint8_t>(w - 1));
    byte(static_cast<std::uint8_t>(c.samples - 1)).byte(static_cast<std::uint8_t>(c.likelihood));
    byte(static_cast<std::uint8_t>(c.variance)).byte(static_cast<std::uint8_t>(c.activation));
    byte(static_cast<std::uint8_t>(c.objective)).byte(static_cast<std::uint8_t>(c.update));
    byte(c.seed);
    return byte(static_cast<std::uint8_t>(c.condition_dim == 0 ? 0 : c.condition_dim + 2));
  }
  ProgramWriter& rows(std::int64_t n) { return byte(static_cast<std::uint8_t>(n + 2)); }
  ProgramWriter& option(int o) { return byte(static_cast<std::uint8_t>(o + 2)); }
  // The calls of ApiSession::configure_randomly: their count, then each.
  ProgramWriter& config_calls(std::size_t count) { return byte(static_cast<std::uint8_t>(count)); }
  ProgramWriter& config_set_int(int o, std::int64_t v) { return option(o).byte(0).int_value(v); }
  ProgramWriter& config_set_float(int o, double v) { return option(o).byte(1).double_value(v); }
  ProgramWriter& int_value(std::int64_t v) {
    for (std::size_t i = 0; i < std::size(kSpecialInts); ++i) {
      if (kSpecialInts[i] == v) return byte(static_cast<std::uint8_t>(i));
    }
    byte(128);
    for (int shift = 56; shift >= 0; shift -= 8) byte(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> shift));
    return *this;
  }
  ProgramWriter& double_value(double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof v);
    for (std::size_t i = 0; i < std::size(kSpecialDoubles); ++i) {
      std::uint64_t special = 0;
      std::memcpy(&special, &kSpecialDoubles[i], sizeof special);
      if (special == bits) return byte(static_cast<std::uint8_t>(i));
    }
    byte(128);
    for (int shift = 56; shift >= 0; shift -= 8) byte(static_cast<std::uint8_t>(bits >> shift));
    return *this;
  }
  ProgramWriter& no_nulls() { return byte(0); }
  // ByteReader::floats: kind 0 binary, 1 uniform in [0, 1], 2 in [-3, 3].
  ProgramWriter& floats(std::uint8_t seed, std::uint8_t kind) { return byte(seed).byte(kind); }
  ProgramWriter& poisoned_floats(std::uint8_t seed, std::uint8_t position, std::size_t special) {
    return byte(seed).byte(3).byte(position).byte(static_cast<std::uint8_t>(special));
  }
  ProgramWriter& byte_data(std::uint8_t seed) { return byte(seed); }
  // ApiSession::rows_argument: sizeof(vae_rows), n rows, binary data from a
  // seed (none for vae_sample_rows), then one-hot conditions of labels from
  // the same seed, or none.
  ProgramWriter& rows_argument(std::int64_t n, bool data, std::uint8_t seed, bool one_hot = true) {
    byte(1).rows(n);
    if (data) floats(seed, 0);
    return one_hot ? byte(0).byte_data(seed) : byte(2);
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace vae_fuzz
