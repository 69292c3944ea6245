#include "trainer_setup.h"

#include <algorithm>
#include <string>

namespace vae_app {

TrainerHandle create_trainer(const Options& options, std::int64_t input_dim, std::int64_t run_steps,
                             std::int64_t classes) {
  vae_config* created = nullptr;
  check(vae_config_create(&created), "vae_config_create");
  const ConfigHandle config(created);
  const auto set_int = [&](int option, std::int64_t value, const char* name) {
    check(vae_config_set_int(config.get(), option, value),
          std::string("vae_config_set_int(") + name + ")");
  };
  const auto set_float = [&](int option, double value, const char* name) {
    check(vae_config_set_float(config.get(), option, value),
          std::string("vae_config_set_float(") + name + ")");
  };
  set_int(VAE_OPT_INPUT_DIM, input_dim, "VAE_OPT_INPUT_DIM");
  set_int(VAE_OPT_LATENT_DIM, options.latent, "VAE_OPT_LATENT_DIM");
  set_int(VAE_OPT_MAX_BATCH, options.batch, "VAE_OPT_MAX_BATCH");
  set_int(VAE_OPT_LIKELIHOOD, options.likelihood, "VAE_OPT_LIKELIHOOD");
  if (options.likelihood == VAE_LIKELIHOOD_GAUSSIAN) {
    set_int(VAE_OPT_VARIANCE, options.variance, "VAE_OPT_VARIANCE");
    set_float(VAE_OPT_LOG_VARIANCE, options.log_variance, "VAE_OPT_LOG_VARIANCE");
    set_float(VAE_OPT_MIN_LOG_VARIANCE, options.min_log_variance, "VAE_OPT_MIN_LOG_VARIANCE");
  }
  set_int(VAE_OPT_ACTIVATION, options.activation, "VAE_OPT_ACTIVATION");
  set_int(VAE_OPT_BACKEND, options.backend, "VAE_OPT_BACKEND");
  set_int(VAE_OPT_SEED, options.seed, "VAE_OPT_SEED");
  set_int(VAE_OPT_SAMPLES, options.samples, "VAE_OPT_SAMPLES");
  set_int(VAE_OPT_PRIOR_COMPONENTS, options.prior_components, "VAE_OPT_PRIOR_COMPONENTS");
  set_int(VAE_OPT_CONDITION_DIM, classes, "VAE_OPT_CONDITION_DIM");
  set_int(VAE_OPT_OBJECTIVE, options.objective, "VAE_OPT_OBJECTIVE");
  set_int(VAE_OPT_THREADS, options.threads, "VAE_OPT_THREADS");
  set_float(VAE_OPT_LEARNING_RATE, options.learning_rate, "VAE_OPT_LEARNING_RATE");
  set_float(VAE_OPT_KL_WEIGHT, options.beta, "VAE_OPT_KL_WEIGHT");
  set_int(VAE_OPT_LR_SCHEDULE, options.lr_schedule, "VAE_OPT_LR_SCHEDULE");
  set_int(VAE_OPT_WARMUP_STEPS, options.lr_warmup, "VAE_OPT_WARMUP_STEPS");
  // A constant rate keeps the library's 0, so that its checkpoints do not
  // depend on --epochs.
  if (options.lr_decay || options.lr_schedule != VAE_SCHEDULE_CONSTANT) {
    set_int(VAE_OPT_DECAY_STEPS,
            options.lr_decay.value_or(std::max<std::int64_t>(1, run_steps - options.lr_warmup)),
            "VAE_OPT_DECAY_STEPS");
  }
  set_float(VAE_OPT_FINAL_LEARNING_RATE, options.final_lr, "VAE_OPT_FINAL_LEARNING_RATE");
  set_float(VAE_OPT_CLIP_NORM, options.clip_norm, "VAE_OPT_CLIP_NORM");
  check(vae_config_set_hidden_layers(config.get(),
                                     options.hidden.empty() ? nullptr : options.hidden.data(),
                                     static_cast<std::int32_t>(options.hidden.size())),
        "vae_config_set_hidden_layers");
  vae_trainer* trainer = nullptr;
  check(vae_create(config.get(), &trainer), "vae_create");
  return TrainerHandle(trainer);
}

TrainerHandle resume_trainer(const Options& options, const std::filesystem::path& checkpoint) {
  vae_trainer* loaded = nullptr;
  check(vae_load(checkpoint.c_str(), options.backend, &loaded),
        "vae_load(" + checkpoint.string() + ")");
  TrainerHandle trainer(loaded);
  check(vae_set_int(trainer.get(), VAE_OPT_THREADS, options.threads),
        "vae_set_int(VAE_OPT_THREADS)");
  if (options.was_given("--lr")) {
    check(vae_set_float(trainer.get(), VAE_OPT_LEARNING_RATE, options.learning_rate),
          "vae_set_float(VAE_OPT_LEARNING_RATE)");
  }
  if (options.was_given("--objective")) {
    check(vae_set_int(trainer.get(), VAE_OPT_OBJECTIVE, options.objective),
          "vae_set_int(VAE_OPT_OBJECTIVE)");
  }
  return trainer;
}

DatasetHandle make_dataset(vae_trainer* trainer, const DataMatrix& data, int transform,
                           std::int64_t rows) {
  vae_dataset* dataset = nullptr;
  if (data.type == ElementType::uint8) {
    check(vae_dataset_create_u8(trainer, data.bytes.data(), rows, transform, &dataset),
          "vae_dataset_create_u8(" + data.source + ")");
  } else {
    check(vae_dataset_create(trainer, data.floats.data(), rows, &dataset),
          "vae_dataset_create(" + data.source + ")");
  }
  DatasetHandle handle(dataset);
  if (!data.labels.empty()) {
    check(vae_dataset_set_labels(trainer, handle.get(), data.labels.data(), rows),
          "vae_dataset_set_labels(" + data.labels_source + ")");
  }
  return handle;
}

}  // namespace vae_app
