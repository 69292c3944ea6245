#include <memory>

#include "backend_factory.h"
#include "cpu/cpu_ops.h"
#include "trainer_impl.h"

namespace vae {

std::unique_ptr<Trainer> make_cpu_trainer(const Config& config) {
  auto ops = std::make_unique<CpuOps<float>>(static_cast<int>(config.threads));
  return std::make_unique<TrainerImpl<CpuOps<float>>>(config, std::move(ops));
}

}  // namespace vae
