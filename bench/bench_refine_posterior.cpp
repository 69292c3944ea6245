// vae_refine_posterior (the inference gap's E-step) on the default model
// (784-400-20, Bernoulli) beside its floor: per Adam step, the decoder's
// forward GEMMs and the two GEMMs of its backward pass to z (no weight
// gradients), for the same rows, through OpenBLAS alone. Their ratio is
// what the refinement spends beyond the GEMMs (bench/RESULTS.md).
// 128 rows (one chunk of the max batch), one sample per step, 100 steps;
// the ELBO estimates (elbo_samples = 1 here) are a small part. Argument:
// threads.
//
//   bench_refine_posterior --benchmark_filter='/2'
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "backend_factory.h"
#include "bench_rows.h"
#include "parameter_layout.h"
#include "trainer.h"

namespace {

constexpr int64_t kRows = 128;
constexpr int64_t kSteps = 100;

void refine_posterior(benchmark::State& state) {
  auto trainer = vae::make_cpu_trainer(default_cpu_config(state.range(0)));
  const int64_t z = trainer->config().latent_dim;
  const auto x = binary_rows(kRows, trainer->config().input_dim);
  std::vector<float> mu(static_cast<size_t>(kRows * z)), before(kRows), after(kRows);
  vae::RefineSettings s;
  s.steps = kSteps;
  s.samples = 1;
  s.elbo_samples = 1;
  s.learning_rate = 0.01;
  for (auto _ : state) {
    trainer->refine_posterior(x.data(), kRows, s, mu.data(), nullptr, before.data(), after.data());
  }
  state.SetItemsProcessed(state.iterations() * kRows * kSteps);
}

// Per step: h = z W1^T, out = h W2^T (forward), dh = dout W2, dz = dh W1
// (backward to z), each [128 rows]; the rows split between `threads`
// threads, each running single-threaded OpenBLAS.
void decoder_gemms(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const vae::Config c = default_cpu_config(threads);
  const vae::ParameterLayout layout(c);
  openblas_set_num_threads(1);
  const vae::LinearLayer& first = layout.decoder.front();
  const vae::LinearLayer& last = layout.decoder.back();
  const std::vector<float> params(layout.total, 0.01f);
  const int64_t part = (kRows + threads - 1) / threads;
  struct Buffers {
    std::vector<float> z, h, out, dh, dz;
  };
  std::vector<Buffers> buffers(static_cast<size_t>(threads));
  for (Buffers& b : buffers) {
    b.z.assign(static_cast<size_t>(part * first.in), 0.5f);
    b.h.assign(static_cast<size_t>(part * first.out), 0.5f);
    b.out.assign(static_cast<size_t>(part * last.out), 0.5f);
    b.dh.assign(b.h.size(), 0.0f);
    b.dz.assign(b.z.size(), 0.0f);
  }
  const auto gemm = [](CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const float* a,
                       const float* b, int64_t ldb, float* y) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, static_cast<blasint>(m), static_cast<blasint>(n),
                static_cast<blasint>(k), 1, a, static_cast<blasint>(k), b,
                static_cast<blasint>(ldb), 0, y, static_cast<blasint>(n));
  };
  const auto work = [&](int t) {
    Buffers& b = buffers[static_cast<size_t>(t)];
    const int64_t m = std::min(part, kRows - t * part);
    if (m <= 0) return;
    const float* w1 = params.data() + first.weight;  // [400, 20]
    const float* w2 = params.data() + last.weight;   // [784, 400]
    for (int64_t step = 0; step < kSteps; ++step) {
      gemm(CblasTrans, m, first.out, first.in, b.z.data(), w1, first.in, b.h.data());
      gemm(CblasTrans, m, last.out, last.in, b.h.data(), w2, last.in, b.out.data());
      gemm(CblasNoTrans, m, last.in, last.out, b.out.data(), w2, last.in, b.dh.data());
      gemm(CblasNoTrans, m, first.in, first.out, b.dh.data(), w1, first.in, b.dz.data());
    }
  };
  for (auto _ : state) {
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back(work, t);
    work(0);
    for (std::thread& h : helpers) h.join();
  }
  const double flops = 4.0 * (double(first.in) * double(first.out) + double(last.in) * double(last.out));
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * double(kRows * kSteps) * double(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
  state.SetItemsProcessed(state.iterations() * kRows * kSteps);
}

}  // namespace

BENCHMARK(refine_posterior)->Name("RefinePosterior")->Arg(1)->Arg(2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(decoder_gemms)->Name("DecoderGemmsOnly")->Arg(1)->Arg(2)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
