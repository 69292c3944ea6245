// Helpers shared by the test suites: small models, random data from fixed
// seeds, and direct access to the CPU backend in float or double.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

#include <thread>

#include "config.h"
#include "cpu/cpu_ops.h"
#include "trainer_impl.h"

namespace vae::testing {

// Whether a sanitizer that maps its shadow memory up front (ASan, TSan) is
// in the process: a child limited in address space (RLIMIT_AS) could not
// run under it, so such tests leave the limit out there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kShadowSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kShadowSanitizer = true;
#else
inline constexpr bool kShadowSanitizer = false;
#endif
#else
inline constexpr bool kShadowSanitizer = false;
#endif

// The threads of this process (/proc/self/task). A sanitizer's runtime may
// start a thread of its own when the process first starts one, so one
// thread is started and joined first: the counts before and after a test
// then differ only by the threads the test started.
inline int process_threads() {
  static const bool warmed_up = [] {
    std::thread([] {}).join();
    return true;
  }();
  static_cast<void>(warmed_up);
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count;
}

using CpuTrainerF = TrainerImpl<CpuOps<float>>;
using CpuTrainerD = TrainerImpl<CpuOps<double>>;

// A fresh directory of one test under gtest's TempDir(), named
// prefix_<pid>_<n> (so concurrent test programs keep apart), removed with
// its files when this goes.
class TestDirectory {
 public:
  explicit TestDirectory(const std::string& prefix) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);  // throws, failing the test, where it cannot
  }
  ~TestDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TestDirectory(const TestDirectory&) = delete;
  TestDirectory& operator=(const TestDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A small model: D inputs, one or more hidden layers, Z latents.
inline Config small_config(int64_t dim = 12, int64_t latent = 3,
                           std::vector<int64_t> hidden = {7, 5}, int64_t max_batch = 6) {
  Config c;
  c.input_dim = dim;
  c.latent_dim = latent;
  c.hidden = std::move(hidden);
  c.max_batch = max_batch;
  c.backend = VAE_BACKEND_CPU;
  c.activation = VAE_ACTIVATION_TANH;
  return c;
}

template <class Trainer>
std::unique_ptr<Trainer> make_trainer(const Config& c) {
  c.validate();
  using Ops = std::remove_reference_t<decltype(std::declval<Trainer&>().ops())>;
  return std::make_unique<Trainer>(c, std::make_unique<Ops>(static_cast<int>(c.threads)));
}

// A file name of this test process's own under the test temp folder, so
// suites running at once (ctest -j, other checkouts) never share a file.
inline std::string temp_path(const std::string& stem) {
  return ::testing::TempDir() + "/vae_" + stem + "_" + std::to_string(::getpid());
}

// A whole file's bytes.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes a whole file, removed first rather than truncated: ext4 flushes a
// truncated file to disk on close, which makes thousands of rewrites slow.
inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::remove(path);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A trainer's parameters in the packed layout.
inline std::vector<float> parameters_of(const Trainer& t) {
  std::vector<float> p(static_cast<size_t>(t.parameter_count()));
  t.get_parameters(p.data(), static_cast<int64_t>(p.size()));
  return p;
}

// Values in [lo, hi) from a fixed seed.
inline std::vector<float> uniform(size_t count, uint32_t seed, float lo = 0.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> normal(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// Binary data in {0, 1} with P(1) = p, from a fixed seed.
inline std::vector<float> binary(size_t count, uint32_t seed, double p = 0.4) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution dist(p);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng) ? 1.0f : 0.0f;
  return v;
}

// Rows that are mostly one of two patterns (the first or the second half of
// the dimensions lit, each pixel flipped with probability 1 - p_lit): data
// with structure for one latent to explain.
inline std::vector<float> two_patterns(int64_t rows, int64_t dim, uint32_t seed,
                                       float p_lit = 0.85f) {
  const auto u = uniform(static_cast<size_t>(rows * dim), seed);
  std::vector<float> x(u.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t d = 0; d < dim; ++d) {
      const bool lit = (r % 2 == 0) ? d < dim / 2 : d >= dim / 2;
      const size_t e = static_cast<size_t>(r * dim + d);
      x[e] = u[e] < (lit ? p_lit : 1.0f - p_lit) ? 1.0f : 0.0f;
    }
  }
  return x;
}

}  // namespace vae::testing
