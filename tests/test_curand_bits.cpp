// cuRAND's Philox4_32_10, through which philox_block draws its bits wherever
// the CUDA toolkit's headers are found, against our twin rounds, which a build
// without them uses: the same words for every kind of key and block, and the
// Random123 known answers through cuRAND itself. cuRAND's device header runs
// on the host, so this needs neither a GPU nor libcurand.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "philox.h"

#if defined(VAE_PHILOX_FROM_CURAND)
#include <curand_kernel.h>
#endif

namespace vae {
namespace {

#if !defined(VAE_PHILOX_FROM_CURAND)

TEST(CurandBits, NeedTheToolkitHeaders) {
  GTEST_SKIP() << "built without the CUDA toolkit's headers: philox_block draws through the "
                  "twin, and there is no cuRAND to compare it with";
}

#else

constexpr uint64_t kTwo32 = uint64_t{1} << 32;

// The cuRAND state whose curand4 calls give blocks `block`, `block` + 1, ...
// of the array `key`, as philox_block's comment says.
curandStatePhilox4_32_10_t curand_state_at(const NoiseKey& key, uint64_t block) {
  curandStatePhilox4_32_10_t state;
  curand_init(key.seed, key.counter ^ (static_cast<uint64_t>(key.stream) << 56), block << 2,
              &state);
  return state;
}
constexpr uint64_t kBlockLimit = uint64_t{1} << 62;

bool same_words(const Philox4& a, const Philox4& b) {
  return a.v[0] == b.v[0] && a.v[1] == b.v[1] && a.v[2] == b.v[2] && a.v[3] == b.v[3];
}

::testing::AssertionResult twin_agrees(const NoiseKey& key, uint64_t block) {
  if (same_words(philox_block(key, block), philox_block_twin(key, block))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "seed " << key.seed << " counter " << key.counter << " stream "
         << static_cast<uint32_t>(key.stream) << " block " << block;
}

TEST(CurandBits, PhiloxBlockEqualsTheTwinOnEveryEdgeOfItsInputs) {
  const std::vector<uint64_t> words64 = {0, 1, kTwo32 - 1, kTwo32, ~uint64_t{0} - 1, ~uint64_t{0}};
  // Stream 0 leaves the counter's top byte alone; 255 flips all of it.
  const std::vector<uint32_t> streams = {0, 1, 2, 3, 4, 5, 6, 7, 255};
  const std::vector<uint64_t> blocks = {0,          1,          3,     kTwo32 - 2, kTwo32 - 1,
                                        kTwo32,     kTwo32 + 1, 1u << 31, kBlockLimit - 2,
                                        kBlockLimit - 1};
  int pairs = 0;
  for (uint64_t seed : words64) {
    for (uint64_t counter : words64) {
      for (uint32_t stream : streams) {
        const NoiseKey key{seed, counter, static_cast<NoiseStream>(stream), 0};
        for (uint64_t block : blocks) {
          ASSERT_TRUE(twin_agrees(key, block));
          ++pairs;
        }
      }
    }
  }
  EXPECT_EQ(pairs, 6 * 6 * 9 * 10);
}

TEST(CurandBits, PhiloxBlockEqualsTheTwinForRandomKeys) {
  std::mt19937_64 rng(20240607);
  std::uniform_int_distribution<uint32_t> stream(1, 7);
  std::uniform_int_distribution<int64_t> near(-4, 4);
  for (int trial = 0; trial < 10000; ++trial) {
    const NoiseKey key{rng(), rng(), static_cast<NoiseStream>(stream(rng)), 0};
    // Blocks of every size below 2^62, and blocks around 2^32 where the
    // counter's low word carries into the next.
    const uint64_t wide = rng() >> (2 + trial % 62);
    const uint64_t around = kTwo32 + static_cast<uint64_t>(near(rng));
    ASSERT_TRUE(twin_agrees(key, wide));
    ASSERT_TRUE(twin_agrees(key, around));
  }
}

TEST(CurandBits, PhiloxBlockIsTheFirstCurand4OfCurandInit) {
  std::mt19937_64 rng(20261207);
  std::uniform_int_distribution<uint32_t> stream(0, 255);
  for (int trial = 0; trial < 10000; ++trial) {
    const NoiseKey key{rng(), rng(), static_cast<NoiseStream>(stream(rng)), 0};
    const uint64_t block = rng() >> (2 + trial % 62);
    curandStatePhilox4_32_10_t state = curand_state_at(key, block);
    const uint4 w = curand4(&state);
    ASSERT_TRUE(same_words(philox_block(key, block), Philox4{{w.x, w.y, w.z, w.w}}))
        << "seed " << key.seed << " counter " << key.counter << " block " << block;
  }
}

TEST(CurandBits, Curand4AfterTheFirstWalksTheFollowingBlocks) {
  // From the state at block b, successive curand4 calls give b, b + 1, ...: the
  // counter's lower 64 bits count blocks, carrying across 2^32.
  const NoiseKey key{0x0123456789abcdefull, 77, NoiseStream::kBytes, 0};
  const uint64_t first = kTwo32 - 3;
  curandStatePhilox4_32_10_t state = curand_state_at(key, first);
  for (uint64_t block = first; block < first + 8; ++block) {
    const uint4 w = curand4(&state);
    EXPECT_TRUE(same_words(Philox4{{w.x, w.y, w.z, w.w}}, philox_block_twin(key, block)))
        << block;
  }
}

// The words cuRAND gives for the full 128-bit counter ctr under the key
// {k0, k1}: the subsequence sets counter words 2 and 3, and words 0 and 1 are
// reached by offsets, of which one skips fewer than 2^62 blocks, so the top
// two bits go in steps of 2^61 blocks.
Philox4 curand_words(const Philox4& ctr, uint32_t k0, uint32_t k1) {
  const uint64_t low = ctr.v[0] | static_cast<uint64_t>(ctr.v[1]) << 32;
  curandStatePhilox4_32_10_t state;
  curand_init(k0 | static_cast<uint64_t>(k1) << 32, ctr.v[2] | static_cast<uint64_t>(ctr.v[3]) << 32,
              (low % kBlockLimit) << 2, &state);
  for (uint64_t step = 0; step < 2 * (low / kBlockLimit); ++step) {
    skipahead(uint64_t{1} << 63, &state);
  }
  const uint4 w = curand4(&state);
  return Philox4{{w.x, w.y, w.z, w.w}};
}

TEST(CurandBits, CurandGivesTheKnownAnswersOfTheReference) {
  // The Random123 vectors that test_element_math.cpp checks the twin with.
  const Philox4 zero = curand_words(Philox4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_TRUE(same_words(zero, Philox4{{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}));
  const Philox4 ones = curand_words(Philox4{{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  EXPECT_TRUE(same_words(ones, Philox4{{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}));
  const Philox4 pi = curand_words(
      Philox4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_TRUE(same_words(pi, Philox4{{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}));
  // And through philox_block itself: seed 0, counter 0, stream 0, block 0.
  EXPECT_TRUE(same_words(philox_block(NoiseKey{0, 0, static_cast<NoiseStream>(0), 0}, 0), zero));
}

#endif

}  // namespace
}  // namespace vae
