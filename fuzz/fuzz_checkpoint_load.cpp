// vae_load on arbitrary bytes (held in a memory file). A file it refuses gives
// VAE_ERROR_FORMAT, a message and no trainer. A file it accepts gives a
// trainer that passes the checks vae_set_parameters makes (finite parameters,
// finite first moments, finite non-negative second moments), saves and loads
// back to the same bytes, and takes a step and an evaluation without
// undefined behaviour.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "safetensors.h"
#include "vae/vae.h"

namespace {

using vae_fuzz::require;

struct TrainerDeleter {
  void operator()(vae_trainer* t) const { vae_destroy(t); }
};
using TrainerHandle = std::unique_ptr<vae_trainer, TrainerDeleter>;

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

void check_state_values(vae_trainer* t, const std::string& saved) {
  int64_t count = 0;
  require(vae_parameter_count(t, &count) == VAE_OK, "vae_parameter_count failed on a loaded trainer");
  std::vector<float> parameters(static_cast<std::size_t>(count));
  require(vae_get_parameters(t, parameters.data(), count) == VAE_OK,
          "vae_get_parameters failed on a loaded trainer");
  for (const float p : parameters) require(std::isfinite(p), "vae_load accepted a non-finite parameter");
  for (const auto& [name, tensor] : vae::read_safetensors(saved).tensors) {
    const bool second = starts_with(name, "optimizer.exp_avg_sq.");
    const bool first = starts_with(name, "optimizer.exp_avg.");
    for (const float v : tensor.data) {
      require(std::isfinite(v) && (!second || v >= 0.0f),
              "vae_load accepted " + name + " holding " + std::to_string(v) +
                  (first || second ? "" : " (a parameter)"));
    }
  }
}

// One row of 0.5s is valid data for every likelihood.
void step_and_evaluate(vae_trainer* t) {
  int64_t dim = 0;
  require(vae_get_int(t, VAE_OPT_INPUT_DIM, &dim) == VAE_OK, "vae_get_int failed on a loaded trainer");
  const std::vector<float> x(static_cast<std::size_t>(dim), 0.5f);
  float loss = 0;
  const vae_status step = vae_train_step(t, x.data(), 1, &loss);
  require(step == VAE_OK || step == VAE_ERROR_NUMERICAL,
          std::string("a step of a loaded trainer failed: ") + vae_last_error());
  float elbo = 0;
  require(vae_evaluate(t, x.data(), 1, &elbo, nullptr, nullptr) == VAE_OK,
          std::string("vae_evaluate of a loaded trainer failed: ") + vae_last_error());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static vae_fuzz::MemoryFile input;
  static vae_fuzz::ScratchDirectory scratch;
  input.assign(data, size);

  vae_trainer* loaded = nullptr;
  const vae_status status = vae_load(input.path().c_str(), VAE_BACKEND_CPU, &loaded);
  if (status != VAE_OK) {
    require(loaded == nullptr, "a failed vae_load set *out");
    // A legal configuration whose workspace the machine cannot give is
    // refused before anything is allocated (src/host_memory.h).
    const bool too_large = status == VAE_ERROR_OUT_OF_MEMORY &&
                           std::strstr(vae_last_error(), "more than this machine can give");
    require(status == VAE_ERROR_FORMAT || too_large,
            std::string("vae_load refused a readable file with ") + vae_status_string(status) +
                " rather than VAE_ERROR_FORMAT: " + vae_last_error());
    require(*vae_last_error() != '\0', "a failed vae_load left no message");
    return 0;
  }
  TrainerHandle t(loaded);

  // What it loaded saves, and loads back to the same bytes.
  const std::string first = scratch.file("first.safetensors");
  const std::string second = scratch.file("second.safetensors");
  require(vae_save(t.get(), first.c_str()) == VAE_OK,
          std::string("a loaded trainer does not save: ") + vae_last_error());
  vae_trainer* reloaded = nullptr;
  require(vae_load(first.c_str(), VAE_BACKEND_CPU, &reloaded) == VAE_OK,
          std::string("a saved trainer does not load: ") + vae_last_error());
  const TrainerHandle again(reloaded);
  require(vae_save(again.get(), second.c_str()) == VAE_OK,
          std::string("a reloaded trainer does not save: ") + vae_last_error());
  require(vae_fuzz::read_bytes(first) == vae_fuzz::read_bytes(second),
          "save -> load -> save changed the checkpoint's bytes");

  check_state_values(t.get(), first);
  step_and_evaluate(t.get());
  return 0;
}
