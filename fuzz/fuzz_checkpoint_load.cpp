// vae_load_config on arbitrary bytes (held in a memory file), with the
// caller's limits of a cautious reader (max batch 1, one thread): what the
// file makes the library hold at once is bounded by its size (the heap's
// peak during the load, kPeakFixedBytes + kPeakBytesPerInputByte per byte
// of input). A file it refuses gives VAE_ERROR_FORMAT, a message and no
// trainer. A file it accepts gives a trainer that passes the checks
// vae_set_parameters makes (finite parameters, finite first moments,
// finite non-negative second moments), saves and loads back (vae_load) to
// the same bytes, and takes a step and an evaluation without undefined
// behaviour (with a condition, where the model takes one).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "peak_heap.h"
#include "safetensors.h"
#include "vae/vae.h"

namespace {

using vae_fuzz::require;

struct TrainerDeleter {
  void operator()(vae_trainer* t) const { vae_destroy(t); }
};
using TrainerHandle = std::unique_ptr<vae_trainer, TrainerDeleter>;

// The bound on the heap a load holds at once. The file holds 12 bytes per
// parameter (the parameter and Adam's two moments); the trainer holds 16
// (with the gradient), and its workspace, for one row, K decoder rows (the
// file's samples, up to 4096) of each layer's outputs and their gradients:
// a layer of `out` outputs has at least `out` parameters, so at most about
// 4 x 4096 x 4 bytes per 12 bytes of the file, some 5,500 per byte, in the
// worst shape (1-[W]-1: 8W parameters, 4W floats per decoder row) about 700.
// The seed corpus with K set to 4096 peaks at 155 per byte, and at 8 as it
// is. 4 MiB covers the library's own fixed structures.
constexpr int64_t kPeakFixedBytes = int64_t{4} << 20;
constexpr int64_t kPeakBytesPerInputByte = 2048;

vae_config* cautious_limits() {
  vae_config* c = nullptr;
  require(vae_config_create(&c) == VAE_OK, "vae_config_create failed");
  require(vae_config_set_int(c, VAE_OPT_BACKEND, VAE_BACKEND_CPU) == VAE_OK &&
              vae_config_set_int(c, VAE_OPT_MAX_BATCH, 1) == VAE_OK &&
              vae_config_set_int(c, VAE_OPT_THREADS, 1) == VAE_OK,
          "setting the limits failed");
  return c;
}

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

// One row of 0.5s is valid data for every likelihood; a conditional model
// (VAE_OPT_CONDITION_DIM = C) takes it with the condition e_0, through the
// _rows calls (which are their namesakes for C = 0).
void step_and_evaluate(vae_trainer* t) {
  int64_t dim = 0, classes = 0;
  require(vae_get_int(t, VAE_OPT_INPUT_DIM, &dim) == VAE_OK &&
              vae_get_int(t, VAE_OPT_CONDITION_DIM, &classes) == VAE_OK,
          "vae_get_int failed on a loaded trainer");
  const std::vector<float> x(static_cast<std::size_t>(dim), 0.5f);
  std::vector<float> condition(static_cast<std::size_t>(classes));
  if (classes > 0) condition[0] = 1.0f;
  const vae_rows row{sizeof(vae_rows), 1, x.data(), classes > 0 ? condition.data() : nullptr};
  float loss = 0;
  const vae_status step = vae_train_step_rows(t, &row, &loss);
  require(step == VAE_OK || step == VAE_ERROR_NUMERICAL,
          std::string("a step of a loaded trainer failed: ") + vae_last_error());
  float elbo = 0;
  require(vae_evaluate_rows(t, &row, &elbo, nullptr, nullptr) == VAE_OK,
          std::string("vae_evaluate of a loaded trainer failed: ") + vae_last_error());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static vae_fuzz::MemoryFile input;
  static vae_fuzz::ScratchDirectory scratch;
  input.assign(data, size);

  static vae_config* const limits = cautious_limits();
  vae_trainer* loaded = nullptr;
  vae_fuzz::PeakHeap::start();
  const vae_status status = vae_load_config(input.path().c_str(), limits, &loaded);
  const int64_t peak = vae_fuzz::PeakHeap::stop();
  const int64_t bound = kPeakFixedBytes + kPeakBytesPerInputByte * static_cast<int64_t>(size);
  require(peak <= bound, "vae_load_config of " + std::to_string(size) + " bytes held " +
                             std::to_string(peak) + " bytes of heap at once, more than " +
                             std::to_string(bound));
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
