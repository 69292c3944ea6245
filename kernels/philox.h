// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): a counter-based generator, so any element's noise is a pure
// function of (seed, stream, counter, index). Bit-identical on host and
// device, independent of thread count and launch shape.
//
// Where the raw bits come from: cuRAND's own Philox rounds
// (curand_Philox4x32_10 of curand_philox4x32_x.h) in device code always, and
// in host code of every build that found the CUDA toolkit's headers, with or
// without the CUDA backend (CMake defines VAE_HAVE_CURAND_HEADER; the header
// compiles with the host compiler and runs without a GPU or libcurand). Only
// that header: curand_kernel.h would add the device tables of cuRAND's other
// generators (about 218 KB) to every kernel file. Only a build without the
// toolkit draws them through philox4x32_10 below, our twin of cuRAND's
// rounds: tests/test_curand_bits.cpp proves the two bit-identical wherever
// both compile, and that philox_block gives what curand_init and curand4
// give for the same key, and test_element_math.cpp checks the twin against
// the Random123 known answers everywhere. The conversions to uniforms and
// normals are ours in every build, so both backends see the same noise.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(VAE_HAVE_CURAND_HEADER)
#define VAE_PHILOX_FROM_CURAND 1
// cuRAND declares its functions with QUALIFIERS, __device__ unless defined
// before the header; philox_block runs on the host too, so nvcc must compile
// them for both sides.
#if !defined(QUALIFIERS)
#if defined(__CUDACC__)
#define QUALIFIERS static __forceinline__ __host__ __device__
#else
#define QUALIFIERS static inline
#endif
#endif
#include <vector_types.h>
#include <curand_philox4x32_x.h>
#endif

#include "host_device.h"

namespace vae {

struct Philox4 {
  uint32_t v[4];
};

VAE_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// Ten rounds of the Philox S-box with the Weyl key schedule.
VAE_HD Philox4 philox4x32_10(Philox4 c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(0xD2511F53u, c.v[0], &hi0, &lo0);
    mulhilo32(0xCD9E8D57u, c.v[2], &hi1, &lo1);
    c = Philox4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// What a draw is for; keeps the noise of different purposes independent.
enum class NoiseStream : uint32_t {
  kLatent = 1,      // epsilon of the reparameterization in training steps
  kPrior = 2,       // z ~ p(z) for sampling and the prior estimator
  kBytes = 3,       // binarization and dequantization noise in training
  kShuffle = 4,     // epoch permutations
  kEvalLatent = 5,  // epsilon in evaluation and the importance estimator
  kEvalBytes = 6,   // byte-transform noise in evaluation
  kInit = 7,        // the initial parameters
  kRefine = 8,      // epsilon of vae_refine_posterior's steps and ELBO estimates
  kPriorComponent = 9,  // the component of a learned mixture prior's draws (index: the row)
};

// Identifies one array of draws: counter is advanced by the trainer once per
// call that draws noise, so calls never reuse each other's numbers; offset is
// the index of the array's first element, so the pieces of a call processed
// in chunks draw disjoint parts of one long array.
struct NoiseKey {
  uint64_t seed;
  uint64_t counter;
  NoiseStream stream;
  uint64_t offset;
};

// The four raw 32-bit words of block `block` (elements 4 block .. 4 block + 3
// counted from the array's start) of the array `key`: Philox4x32-10 of the
// counter {block lo, block hi, counter lo, counter hi ^ stream << 24} under
// the key {seed lo, seed hi}. Blocks are below 2^62, as every caller's are:
// an element index / 4, or a row index.
//
// Through our own rounds: the twin of the cuRAND draw below.
VAE_HD Philox4 philox_block_twin(const NoiseKey& key, uint64_t block) {
  const Philox4 ctr{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                     static_cast<uint32_t>(key.counter),
                     static_cast<uint32_t>(key.counter >> 32) ^
                         (static_cast<uint32_t>(key.stream) << 24)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(key.seed),
                       static_cast<uint32_t>(key.seed >> 32));
}

#if defined(VAE_PHILOX_FROM_CURAND)
// Through cuRAND's rounds, on the counter curand_init(seed, subsequence,
// offset) would give a curandStatePhilox4_32_10_t for subsequence = counter ^
// stream << 56 and offset = 4 block: the subsequence in the counter's upper
// 64 bits (words 2, 3), offset / 4 = block in its lower 64 bits (words 0, 1),
// under the key {seed lo, seed hi}; its first curand4 is these four words.
VAE_HD Philox4 philox_block(const NoiseKey& key, uint64_t block) {
  const uint64_t subsequence = key.counter ^ (static_cast<uint64_t>(key.stream) << 56);
  const uint4 counter{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                      static_cast<uint32_t>(subsequence), static_cast<uint32_t>(subsequence >> 32)};
  const uint2 seed{static_cast<uint32_t>(key.seed), static_cast<uint32_t>(key.seed >> 32)};
  const uint4 words = curand_Philox4x32_10(counter, seed);
  return Philox4{{words.x, words.y, words.z, words.w}};
}
#else
VAE_HD Philox4 philox_block(const NoiseKey& key, uint64_t block) {
  return philox_block_twin(key, block);
}
#endif

// u in [0, 1) with 24 random bits: exactly representable in float.
VAE_HD float uniform_from_bits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Box-Muller: n0 = r cos(2 pi u2), n1 = r sin(2 pi u2), r = sqrt(-2 log u1),
// with u1 in (0, 1] so the logarithm is finite.
VAE_HD void box_muller(uint32_t b1, uint32_t b2, float* n0, float* n1) {
  const float u1 = static_cast<float>((b1 >> 8) + 1u) * (1.0f / 16777216.0f);
  const float u2 = uniform_from_bits(b2);
  const float r = std::sqrt(-2.0f * std::log(u1));
  const float theta = 6.28318530717958647692f * u2;
  *n0 = r * std::cos(theta);
  *n1 = r * std::sin(theta);
}

// Element i of the standard normal array named by key: block i/4, lane i%4.
VAE_HD float standard_normal(const NoiseKey& key, uint64_t i) {
  i += key.offset;
  const Philox4 r = philox_block(key, i >> 2);
  const int lane = static_cast<int>(i & 3);
  float n0, n1;
  if (lane < 2) {
    box_muller(r.v[0], r.v[1], &n0, &n1);
  } else {
    box_muller(r.v[2], r.v[3], &n0, &n1);
  }
  return (lane & 1) ? n1 : n0;
}

// Element i of the U[0, 1) array named by key.
VAE_HD float standard_uniform(const NoiseKey& key, uint64_t i) {
  i += key.offset;
  return uniform_from_bits(philox_block(key, i >> 2).v[i & 3]);
}

// Element after element of one U[0, 1) array, computing each Philox block
// once for its four elements: the same numbers as standard_uniform(key, i),
// for a loop that walks the indices in order.
class UniformSequence {
 public:
  explicit UniformSequence(const NoiseKey& key) : key_(key) {}
  float at(uint64_t i) {
    i += key_.offset;
    if ((i >> 2) != block_) {
      block_ = i >> 2;
      words_ = philox_block(key_, block_);
    }
    return uniform_from_bits(words_.v[i & 3]);
  }

 private:
  NoiseKey key_;
  uint64_t block_ = ~uint64_t{0};
  Philox4 words_{};
};

// Element after element of one standard normal array, computing each
// Philox block and Box-Muller pair once for its four elements: the same
// numbers as standard_normal(key, i), for a loop that walks the indices in
// order.
class NormalSequence {
 public:
  explicit NormalSequence(const NoiseKey& key) : key_(key) {}
  float at(uint64_t i) {
    i += key_.offset;
    if ((i >> 2) != block_) {
      block_ = i >> 2;
      const Philox4 r = philox_block(key_, block_);
      box_muller(r.v[0], r.v[1], &normals_[0], &normals_[1]);
      box_muller(r.v[2], r.v[3], &normals_[2], &normals_[3]);
    }
    return normals_[i & 3];
  }

 private:
  NoiseKey key_;
  uint64_t block_ = ~uint64_t{0};
  float normals_[4] = {};
};

}  // namespace vae
