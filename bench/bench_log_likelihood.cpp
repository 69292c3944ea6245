// The importance-sampled log-likelihood estimate of the default model
// (784-400-20, Bernoulli) beside its floor: the decoder's GEMMs for the same
// number of samples through OpenBLAS alone. Their ratio is what the estimate
// spends beyond the GEMMs (bench/RESULTS.md, issue 12). K = 1000 samples per
// row, as vae-train's estimate takes; arguments: rows, threads.
//
//   bench_log_likelihood --benchmark_filter='/1000/2'
//
// On a machine shared with other work, compare the two in one run (they
// suffer alike) or by their CPU time (`/usr/bin/time`).
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

constexpr int32_t kSamples = 1000;

void log_likelihood(benchmark::State& state) {
  const int64_t rows = state.range(0);
  auto trainer = vae::make_cpu_trainer(default_cpu_config(state.range(1)));
  const auto x = binary_rows(rows, trainer->config().input_dim);
  std::vector<float> log_px(static_cast<size_t>(rows));
  for (auto _ : state) {
    trainer->log_likelihood(x.data(), rows, kSamples, VAE_ESTIMATOR_IMPORTANCE, log_px.data());
  }
  state.SetItemsProcessed(state.iterations() * rows * kSamples);
}

// The decoder's forward GEMMs for rows * K samples, z W1^T ([S, 20] by
// [20, 400]) and h W2^T ([S, 400] by [400, 784]), in blocks of 1024 samples
// taken in turn by `threads` threads, each running single-threaded OpenBLAS
// (as the CPU backend does): the products alone, at the rate OpenBLAS
// reaches on this machine.
void decoder_gemms(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const vae::Config c = default_cpu_config(threads);
  const vae::ParameterLayout layout(c);
  openblas_set_num_threads(1);
  constexpr int64_t kBlock = 1024;
  const std::vector<float> params(layout.total, 0.01f);
  const std::vector<float> z(static_cast<size_t>(kBlock * c.latent_dim), 0.5f);
  std::vector<std::vector<float>> hidden(static_cast<size_t>(threads)), out(hidden.size());
  for (size_t t = 0; t < hidden.size(); ++t) {
    hidden[t].assign(static_cast<size_t>(kBlock * layout.widest), 0.5f);
    out[t].assign(static_cast<size_t>(kBlock * c.input_dim), 0.0f);
  }
  const int64_t samples = rows * kSamples;
  const auto work = [&](int t) {
    for (int64_t first = t * kBlock; first < samples; first += threads * kBlock) {
      const auto m = static_cast<blasint>(std::min(kBlock, samples - first));
      const float* in = z.data();
      for (const vae::LinearLayer& l : layout.decoder) {
        float* y = l.out == c.input_dim ? out[static_cast<size_t>(t)].data()
                                        : hidden[static_cast<size_t>(t)].data();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, static_cast<blasint>(l.out),
                    static_cast<blasint>(l.in), 1, in, static_cast<blasint>(l.in),
                    params.data() + l.weight, static_cast<blasint>(l.in), 0, y,
                    static_cast<blasint>(l.out));
        in = y;
      }
    }
  };
  for (auto _ : state) {
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back(work, t);
    work(0);
    for (std::thread& h : helpers) h.join();
  }
  double flops = 0;
  for (const vae::LinearLayer& l : layout.decoder) flops += 2.0 * double(l.in) * double(l.out);
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * double(samples) * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.SetItemsProcessed(state.iterations() * samples);
}

}  // namespace

BENCHMARK(log_likelihood)->Name("LogLikelihood")->ArgsProduct({{100, 1000}, {1, 2}})
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK(decoder_gemms)->Name("DecoderGemmsOnly")->ArgsProduct({{100, 1000}, {1, 2}})
    ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

BENCHMARK_MAIN();
