// The model and training setup behind vae_config: plain values, checked one
// option at a time so each refusal names the option and its allowed range.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "element_math.h"
#include "step_state.h"
#include "vae/vae.h"

namespace vae {

struct Config {
  int64_t input_dim = 784;
  int64_t latent_dim = 20;
  int64_t max_batch = 128;
  std::vector<int64_t> hidden = {400};
  int likelihood = VAE_LIKELIHOOD_BERNOULLI;
  int variance = VAE_VARIANCE_FIXED;
  double log_variance = 0.0;
  double min_log_variance = -9.0;  // the bound of VAE_VARIANCE_DECODER's log variance
  int activation = VAE_ACTIVATION_RELU;
  int backend = VAE_BACKEND_AUTO;
  int64_t device = 0;
  int64_t seed = 1;
  double learning_rate = 1e-3;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double kl_weight = 1.0;
  int64_t samples = 1;
  int objective = VAE_OBJECTIVE_ELBO;
  int update = VAE_UPDATE_ALL;
  int64_t threads = 1;
  int64_t tf32 = 0;
  int64_t eval_rows = 0;  // 0: sized from the backend's evaluation budget
  int lr_schedule = VAE_SCHEDULE_CONSTANT;
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;
  double final_learning_rate = 0.0;
  double clip_norm = 0.0;  // 0: no gradient clipping
  int64_t prior_components = 0;  // 0: N(0, I); K >= 1: a learned mixture of K Gaussians
  int64_t condition_dim = 0;     // C: each row's condition joins both networks' inputs
  // Data parallelism: this trainer is rank `rank` of `world_size` ranks
  // (vae_set_allreduce). Not saved: a checkpoint resumes on any number.
  int64_t rank = 0;
  int64_t world_size = 1;

  Activation hidden_activation() const {
    return activation == VAE_ACTIVATION_TANH ? Activation::kTanh : Activation::kRelu;
  }
  bool gaussian() const { return likelihood == VAE_LIKELIHOOD_GAUSSIAN; }
  // The decoder's output width: input_dim, or 2 input_dim when it predicts
  // the variance (the means, then the log-variance outputs).
  int64_t output_width() const {
    return variance == VAE_VARIANCE_DECODER ? 2 * input_dim : input_dim;
  }
  bool conditional() const { return condition_dim > 0; }
  // The widest activation a layer reads or writes: the layers' widths, the
  // input and the latent head, and the first layers' inputs [x | c] and
  // [z | c]. Every buffer of max_batch * samples rows is at most this wide.
  int64_t widest() const;
  // Number of learned decoder log-variance parameters: 0, 1 or input_dim.
  int64_t learned_log_variance_count() const;
  // Whether the option is one a trainer reports and no one sets
  // (VAE_OPT_STEPS, ..., VAE_OPT_NEXT_LEARNING_RATE), and the refusal of a set.
  static bool is_read_only(int option);
  static const char* read_only_message();
  // The optimizer's settings: Adam's, the rate's schedule and clipping.
  AdamSettings adam_settings() const;

  // Sets one option; throws Error(INVALID_ARGUMENT) naming the allowed range.
  // `live` restricts to the options that may change during training.
  void set_int(int option, int64_t value, bool live);
  void set_float(int option, double value, bool live);
  int64_t get_int(int option) const;
  double get_float(int option) const;
  void set_hidden_layers(const int32_t* widths, int32_t count);
  // Checks the whole configuration (combinations and sizes).
  void validate() const;

  // The configuration as strings, for the checkpoint metadata, and back
  // (all but the rank and world size).
  std::map<std::string, std::string> to_metadata() const;
  static Config from_metadata(const std::map<std::string, std::string>& metadata);

 private:
  // Throws Error(INVALID_ARGUMENT) unless setting `option` to `value` keeps
  // the rank below the world size.
  void check_rank_fits(int option, int64_t value) const;
  // ... unless a decaying schedule has decay steps.
  void check_schedule_fits(int option, int64_t value) const;
};

}  // namespace vae
