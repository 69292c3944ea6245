#include <memory>
#include <string>

#include "backend_factory.h"
#include "cpu/cpu_ops.h"
#include "host_memory.h"
#include "trainer_impl.h"

namespace vae {
namespace {

// The host memory a CPU trainer of `config` takes, before it is built: the
// workspace arena (Network::arena_floats, the same count it allocates) and
// the packed buffers that initialize and copy the state (three of the
// parameters' size at once).
double cpu_trainer_bytes(const Config& config) {
  using Net = Network<CpuOps<float>>;
  const ParameterLayout layout(config, CpuOps<float>::kParameterAlignment);
  // max_batch <= 2^20 and samples <= 4096: their product fits.
  const double floats = Net::arena_floats<double>(layout, config.input_dim, config.latent_dim,
                                                  config.max_batch,
                                                  config.max_batch * config.samples) +
                        3.0 * static_cast<double>(layout.packed_total);
  return floats * sizeof(float);
}

}  // namespace

std::unique_ptr<Trainer> make_cpu_trainer(const Config& config) {
  // Checked before anything is allocated: the arena is zero-filled as it is
  // allocated, and an overcommitting host would end the process for it.
  check_host_memory(cpu_trainer_bytes(config), describe_trainer(config, "CPU"));
  auto ops = std::make_unique<CpuOps<float>>(static_cast<int>(config.threads));
  return std::make_unique<TrainerImpl<CpuOps<float>>>(config, std::move(ops));
}

}  // namespace vae
