// A fixed number of CPU training steps at a size of bench_cpu_step, for
// profilers: callgrind's instruction counts of two runs that differ only in
// the step count give the exact cost of those extra steps (bench/RESULTS.md).
//
//   profile_cpu_step S|M THREADS STEPS
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend_factory.h"
#include "bench_rows.h"
#include "trainer.h"

int main(int argc, char** argv) {
  if (argc != 4 || (std::strcmp(argv[1], "S") != 0 && std::strcmp(argv[1], "M") != 0)) {
    std::fprintf(stderr, "usage: profile_cpu_step S|M THREADS STEPS\n");
    return 2;
  }
  const bool small = std::strcmp(argv[1], "S") == 0;
  vae::Config c;
  c.backend = VAE_BACKEND_CPU;
  c.hidden = small ? std::vector<int64_t>{400} : std::vector<int64_t>{1024, 1024};
  c.latent_dim = small ? 20 : 64;
  c.max_batch = small ? 128 : 1024;
  c.threads = std::atoi(argv[2]);
  const long steps = std::atol(argv[3]);
  if (c.threads < 1 || steps < 0) {
    std::fprintf(stderr, "THREADS must be at least 1 and STEPS at least 0\n");
    return 2;
  }
  try {
    auto trainer = vae::make_cpu_trainer(c);
    const std::vector<float> x = binary_rows(c.max_batch, c.input_dim);
    float loss = 0;
    for (long s = 0; s < steps; ++s) trainer->train_step(x.data(), c.max_batch, &loss);
    std::printf("%ld steps, last loss %.6f\n", steps, static_cast<double>(loss));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
