// vae-train's command line: the flags, their defaults and their checks.
#ifndef VAE_APPS_OPTIONS_H
#define VAE_APPS_OPTIONS_H

#include <vae/vae.h>

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vae_app {

// A bad command line; what() is one line naming the flag and the problem.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Schedule { joint, alternate };

inline constexpr char kFashionMnist[] = "fashion-mnist";

struct Options {
  std::string data = kFashionMnist;
  std::string test_path;     // empty: fashion-mnist's own test set, or the last 10% of --data
  // A conditional model's class labels (run_data.h): of --data PATH and of --test PATH.
  std::string labels_path;
  std::string test_labels_path;
  std::int64_t epochs = 10;  // total, counting those a resumed run already did
  int backend = VAE_BACKEND_AUTO;
  std::string out_dir;  // empty: runs/<YYYYmmdd-HHMMSS>
  bool resume = false;
  bool help = false;
  // Model and training.
  std::vector<std::int32_t> hidden{400};
  std::int64_t latent = 20;
  int activation = VAE_ACTIVATION_RELU;
  int likelihood = VAE_LIKELIHOOD_BERNOULLI;
  int variance = VAE_VARIANCE_FIXED;
  double log_variance = 0.0;
  double min_log_variance = -9.0;
  std::optional<int>
      transform;  // VAE_BYTES_*; unset: binarize for bernoulli, dequantize for gaussian
  std::int64_t batch = 128;
  double learning_rate = 1e-3;
  double beta = 1.0;
  std::int64_t kl_warmup = 0;
  std::int64_t samples = 1;
  std::int64_t prior_components = 0;  // 0: N(0, I); K: a learned mixture (VAE_OPT_PRIOR_COMPONENTS)
  // Each row's class label as a one-hot condition (VAE_OPT_CONDITION_DIM).
  bool conditional = false;
  int objective = VAE_OBJECTIVE_ELBO;
  Schedule schedule = Schedule::joint;
  // The learning rate's schedule and gradient clipping (vae.h, VAE_OPT_LR_SCHEDULE).
  int lr_schedule = VAE_SCHEDULE_CONSTANT;
  std::int64_t lr_warmup = 0;              // steps
  std::optional<std::int64_t> lr_decay;    // steps; unset: the run's steps after the warm-up
  double final_lr = 0.0;
  double clip_norm = 0.0;                  // 0: no clipping
  std::optional<std::int64_t> patience;  // unset: no early stopping (early_stopping.h)
  std::int64_t threads = 1;  // set to the core count, at most 8, by parse_options
  std::int64_t seed = 1;
  std::int64_t ll_samples = 1000;
  std::optional<std::int64_t> ll_rows;  // unset: every test row
  std::int64_t gap_rows = 100;          // test rows of the inference gap (0: none)
  std::int64_t gap_steps = 100;         // Adam steps of each row's refined q
  std::set<std::string> given;          // the flags on the command line, e.g. "--latent"

  bool was_given(const std::string& flag) const { return given.count(flag) != 0; }
};

// Parses argv (flags as "--name value" or "--name=value"). Throws UsageError.
Options parse_options(int argc, const char* const* argv);

// The text --help prints.
std::string help_text();

}  // namespace vae_app

#endif  // VAE_APPS_OPTIONS_H
