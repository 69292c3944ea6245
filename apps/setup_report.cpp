// vae-train's report of a run's setup: the data, the model, the training
// choices and the learning rate, printed before the first epoch.
#include "setup_report.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "vae_handles.h"

namespace vae_app {
namespace {

const char* transform_name(int transform) {
  switch (transform) {
    case VAE_BYTES_SCALE:
      return "scale";
    case VAE_BYTES_BINARIZE:
      return "binarize";
    default:
      return "dequantize";
  }
}

const char* backend_name(std::int64_t backend) {
  switch (backend) {
    case VAE_BACKEND_CPU:
      return "cpu";
    case VAE_BACKEND_CUDA:
      return "cuda";
    default:
      return "auto";
  }
}

// The trainer's learning-rate schedule and clipping, in one line.
void print_rate(vae_trainer* trainer) {
  const auto real = [&](int option, const char* name) {
    double value = 0;
    check(vae_get_float(trainer, option, &value), std::string("vae_get_float(") + name + ")");
    return value;
  };
  const auto integer = [&](int option, const char* name) {
    return static_cast<long long>(get_int_option(trainer, option, name));
  };
  std::printf("learning rate %g", real(VAE_OPT_LEARNING_RATE, "VAE_OPT_LEARNING_RATE"));
  const long long warmup = integer(VAE_OPT_WARMUP_STEPS, "VAE_OPT_WARMUP_STEPS");
  if (warmup > 0) std::printf(" after a %lld-step warm-up", warmup);
  const int schedule = static_cast<int>(integer(VAE_OPT_LR_SCHEDULE, "VAE_OPT_LR_SCHEDULE"));
  if (schedule != VAE_SCHEDULE_CONSTANT) {
    std::printf(", %s decay to %g over %lld steps",
                schedule == VAE_SCHEDULE_COSINE ? "cosine" : "linear",
                real(VAE_OPT_FINAL_LEARNING_RATE, "VAE_OPT_FINAL_LEARNING_RATE"),
                integer(VAE_OPT_DECAY_STEPS, "VAE_OPT_DECAY_STEPS"));
  }
  const double clip = real(VAE_OPT_CLIP_NORM, "VAE_OPT_CLIP_NORM");
  if (clip > 0) std::printf(", gradients clipped to norm %g", clip);
  std::printf("\n");
}

}  // namespace

void print_setup(const Options& options, const SetupFacts& facts, vae_trainer* trainer) {
  const DataMatrix& train = *facts.train;
  const int transform = facts.transform;
  std::printf("data: %s: %lld training rows, %lld test rows, %lld %s values per row",
              facts.data_name.c_str(), static_cast<long long>(train.rows),
              static_cast<long long>(facts.test->rows), static_cast<long long>(train.dim),
              element_type_name(train.type));
  if (train.type == ElementType::uint8) {
    std::printf(", transform %s", transform_name(transform));
  }
  if (train.type == ElementType::uint8 && transform == VAE_BYTES_DEQUANTIZE) {
    std::printf(
        "\n      (test figures are the discrete bound: the density's less D*log(256) = %.1f nats;"
        " the training loss is the density's)",
        static_cast<double>(train.dim) * std::log(256.0));
  }
  std::printf(
      "\nmodel: latent %lld, %s likelihood, %s objective, %lld sample(s)%s\n",
      static_cast<long long>(get_int_option(trainer, VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM")),
      get_int_option(trainer, VAE_OPT_LIKELIHOOD, "VAE_OPT_LIKELIHOOD") == VAE_LIKELIHOOD_GAUSSIAN
          ? "gaussian"
          : "bernoulli",
      get_int_option(trainer, VAE_OPT_OBJECTIVE, "VAE_OPT_OBJECTIVE") == VAE_OBJECTIVE_IWAE
          ? "iwae"
          : "elbo",
      static_cast<long long>(get_int_option(trainer, VAE_OPT_SAMPLES, "VAE_OPT_SAMPLES")),
      options.resume ? " (the model from the checkpoint)" : "");
  const std::int64_t classes =
      get_int_option(trainer, VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM");
  if (classes > 0) {
    std::printf("conditions: each row's class label, one-hot over %lld classes (%s)\n",
                static_cast<long long>(classes), train.labels_source.c_str());
  }
  std::printf("training: batch %lld, beta %g", static_cast<long long>(facts.batch), options.beta);
  if (options.kl_warmup > 0) {
    std::printf(" after a %lld-epoch warm-up", static_cast<long long>(options.kl_warmup));
  }
  std::printf(", %s schedule, backend %s, %lld threads\n",
              options.schedule == Schedule::joint ? "joint" : "alternate (E/M)",
              backend_name(get_int_option(trainer, VAE_OPT_BACKEND, "VAE_OPT_BACKEND")),
              static_cast<long long>(options.threads));
  print_rate(trainer);
  if (options.resume) {
    std::printf("resuming %s after epoch %lld of %lld\n", facts.directory.c_str(),
                static_cast<long long>(facts.epochs_done), static_cast<long long>(options.epochs));
  } else {
    std::printf("output: %s\n", facts.directory.c_str());
  }
  std::fflush(stdout);
}

}  // namespace vae_app
