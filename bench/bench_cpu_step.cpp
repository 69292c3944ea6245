// The CPU backend's training step at the sizes of bench/RESULTS.md, beside
// the same step's GEMMs alone through OpenBLAS: their ratio is the overhead
// of everything that is not a GEMM (the target is at most 1.3).
//
//   bench_cpu_step --benchmark_filter=S   (arguments: threads)
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "backend_factory.h"
#include "bench_rows.h"
#include "parameter_layout.h"
#include "trainer.h"

namespace {

struct Size {
  const char* name;
  std::vector<int64_t> hidden;
  int64_t latent;
  int64_t batch;
};

const Size kSizes[] = {
    {"S", {400}, 20, 128},
    {"M", {1024, 1024}, 64, 1024},
};

vae::Config config_for(const Size& s, int64_t threads) {
  vae::Config c;
  c.backend = VAE_BACKEND_CPU;
  c.hidden = s.hidden;
  c.latent_dim = s.latent;
  c.max_batch = s.batch;
  c.threads = threads;
  return c;
}

void step(benchmark::State& state, const Size& s) {
  const vae::Config c = config_for(s, state.range(0));
  auto trainer = vae::make_cpu_trainer(c);
  const auto x = binary_rows(s.batch, c.input_dim);
  for (auto _ : state) trainer->train_step(x.data(), s.batch, nullptr);
  state.SetItemsProcessed(state.iterations() * s.batch);
}

// The GEMMs Network<CpuOps> issues for one step, with the same shapes and
// transposes: forward X W^T per layer, backward dY^T X and dY W.
void gemms_only(benchmark::State& state, const Size& s) {
  const vae::Config c = config_for(s, state.range(0));
  const vae::ParameterLayout layout(c);
  openblas_set_num_threads(static_cast<int>(c.threads));
  const int64_t b = s.batch;
  std::vector<float> params(layout.total, 0.01f), grads(layout.total);
  std::vector<float> in(static_cast<size_t>(b * layout.widest), 0.5f);
  std::vector<float> out(in.size()), d(in.size(), 0.1f), dx(in.size());
  auto run = [&](const vae::LinearLayer& l, bool input_grad) {
    const auto m = static_cast<blasint>(b), n = static_cast<blasint>(l.out),
               k = static_cast<blasint>(l.in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, in.data(), k,
                params.data() + l.weight, k, 1, out.data(), n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1, d.data(), n, in.data(), k,
                0, grads.data() + l.weight, k);
    if (input_grad) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1, d.data(), n,
                  params.data() + l.weight, k, 0, dx.data(), k);
    }
  };
  for (auto _ : state) {
    for (size_t i = 0; i < layout.encoder.size(); ++i) run(layout.encoder[i], i > 0);
    for (const vae::LinearLayer& l : layout.decoder) run(l, true);
  }
  state.SetItemsProcessed(state.iterations() * b);
}

void register_all() {
  for (const Size& s : kSizes) {
    benchmark::RegisterBenchmark((std::string("CpuStep/") + s.name).c_str(), step, s)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("CpuStepGemmsOnly/") + s.name).c_str(), gemms_only, s)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
