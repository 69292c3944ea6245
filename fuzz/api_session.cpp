#include "api_session.h"

#include <algorithm>


namespace vae_fuzz {
namespace {

constexpr const char* kSteps = "libvae.steps";
constexpr const char* kEpochs = "libvae.epochs";
constexpr const char* kDraws = "libvae.draws";

// The options that size the model (VAE_OPT_CONDITION_DIM up to 2^20 columns)
// or pick its machine: the program's first bytes choose them.
bool structural(int option) {
  return option == VAE_OPT_INPUT_DIM || option == VAE_OPT_LATENT_DIM ||
         option == VAE_OPT_MAX_BATCH || option == VAE_OPT_SAMPLES || option == VAE_OPT_THREADS ||
         option == VAE_OPT_BACKEND || option == VAE_OPT_CONDITION_DIM;
}

// The calls a conditional model refuses: they take no conditions (vae.h,
// VAE_OPT_CONDITION_DIM).
bool without_conditions(Op op) {
  return op == Op::kTrainStep || op == Op::kEvaluate || op == Op::kLogLikelihood ||
         op == Op::kEncode || op == Op::kDecode || op == Op::kSample ||
         op == Op::kLogLikelihoodStats || op == Op::kRefinePosterior;
}

bool is_step(Op op) { return op == Op::kTrainStep || op == Op::kTrainStepRows; }

void expect_ok(vae_status s, const char* what) {
  require(s == VAE_OK, std::string(what) + " failed: " + vae_last_error());
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Which part of a trainer's state a name of differences() belongs to.
enum class Part { kConfiguration, kCounter, kParameter, kMoment, kGetter };

Part part_of(const std::string& name) {
  if (starts_with(name, "option ")) return Part::kGetter;
  if (starts_with(name, "libvae.")) return Part::kCounter;
  if (starts_with(name, "optimizer.")) return Part::kMoment;
  if (starts_with(name, "VAE_OPT_") || name == "hidden_layers") return Part::kConfiguration;
  return Part::kParameter;
}

const char* op_name(Op op) {
  static const char* const names[] = {
      "vae_set_int", "vae_set_float", "vae_get_int", "vae_get_float", "vae_train_step",
      "vae_evaluate", "vae_log_likelihood", "vae_encode", "vae_decode", "vae_sample",
      "vae_get_parameters", "vae_set_parameters", "vae_parameter_count", "vae_save", "vae_load",
      "vae_load (damaged file)", "vae_dataset_create", "vae_dataset_create_u8",
      "vae_dataset_destroy", "vae_dataset_size", "vae_train_epoch", "vae_evaluate_dataset",
      "vae_log_likelihood_dataset", "vae_set_progress", "vae_dataset_create (other trainer)",
      "vae_status_string", "vae_interrupt", "vae_set_allreduce", "vae_log_likelihood_stats",
      "vae_log_likelihood_stats_dataset", "vae_latent_usage", "vae_refine_posterior",
      "vae_train_step_rows", "vae_evaluate_rows", "vae_log_likelihood_rows",
      "vae_log_likelihood_stats_rows", "vae_encode_rows", "vae_decode_rows", "vae_sample_rows",
      "vae_refine_posterior_rows", "vae_dataset_set_conditions", "vae_dataset_set_labels"};
  static_assert(std::size(names) == static_cast<std::size_t>(Op::kCount));
  return names[static_cast<std::size_t>(op)];
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

ApiSession::ApiSession(ByteReader& program, const ScratchDirectory& scratch)
    : program_(program), scratch_(scratch) {
  build_trainer();
}

ApiSession::~ApiSession() {
  for (const Dataset& d : datasets_) vae_dataset_destroy(d.handle);
  vae_destroy(t_);
  vae_destroy(other_);
  vae_config_destroy(config_);
}

void ApiSession::build_trainer() {
  const TrainerChoices c = program_.trainer_choices();
  dim_ = c.input_dim;
  latent_ = c.latent_dim;
  max_batch_ = c.max_batch;
  condition_dim_ = c.condition_dim;
  expect_ok(vae_config_create(&config_), "vae_config_create");
  const std::pair<int, int64_t> settings[] = {
      {VAE_OPT_INPUT_DIM, c.input_dim}, {VAE_OPT_LATENT_DIM, c.latent_dim},
      {VAE_OPT_MAX_BATCH, c.max_batch}, {VAE_OPT_THREADS, c.threads},
      {VAE_OPT_BACKEND, VAE_BACKEND_CPU}, {VAE_OPT_SAMPLES, c.samples},
      {VAE_OPT_LIKELIHOOD, c.likelihood}, {VAE_OPT_VARIANCE, c.variance},
      {VAE_OPT_ACTIVATION, c.activation}, {VAE_OPT_OBJECTIVE, c.objective},
      {VAE_OPT_UPDATE, c.update}, {VAE_OPT_SEED, c.seed},
      {VAE_OPT_CONDITION_DIM, c.condition_dim}};
  for (const auto& [option, value] : settings) {
    expect_ok(vae_config_set_int(config_, option, value), "vae_config_set_int");
  }
  expect_ok(vae_config_set_hidden_layers(config_, c.hidden.data(), static_cast<int32_t>(c.hidden.size())),
            "vae_config_set_hidden_layers");
  configure_randomly(config_);

  // A learned variance needs the Gaussian likelihood, and a decaying
  // learning-rate schedule decay steps: creation fails, and must succeed
  // once the variance is fixed and the rate constant.
  vae_trainer* t = nullptr;
  if (vae_create(config_, &t) != VAE_OK) {
    require(t == nullptr && *vae_last_error() != '\0', "a failed vae_create set *out or no message");
    expect_ok(vae_config_set_int(config_, VAE_OPT_VARIANCE, VAE_VARIANCE_FIXED), "vae_config_set_int");
    expect_ok(vae_config_set_int(config_, VAE_OPT_LR_SCHEDULE, VAE_SCHEDULE_CONSTANT),
              "vae_config_set_int");
    expect_ok(vae_create(config_, &t), "vae_create");
  }
  t_ = t;
  expect_ok(vae_parameter_count(t_, &parameters_), "vae_parameter_count");
}

// A few calls with any option and value; those that would change the model's
// size go to a configuration that is thrown away, to keep the trainer small.
void ApiSession::configure_randomly(vae_config* config) {
  vae_config* scratch = nullptr;
  expect_ok(vae_config_create(&scratch), "vae_config_create");
  for (std::size_t calls = program_.choice(4); calls > 0; --calls) {
    const int option = program_.option();
    vae_config* target = structural(option) ? scratch : config;
    if (program_.one_in(2)) {
      vae_config_set_int(target, option, program_.int_value());
    } else {
      vae_config_set_float(target, option, program_.double_value());
    }
  }
  const int32_t widths[] = {70000, 3};
  require(vae_config_set_hidden_layers(scratch, widths, 2) == VAE_ERROR_INVALID_ARGUMENT,
          "a hidden width of 70000 was accepted");
  vae_config_destroy(scratch);
}

void ApiSession::run(int max_calls) {
  Snapshot before = take_snapshot(t_, scratch_.file("before.safetensors"));
  for (int calls = 0; calls < max_calls && !program_.empty(); ++calls) {
    const Op op = static_cast<Op>(program_.choice(static_cast<std::size_t>(Op::kCount)));
    hook_.last_status = VAE_OK;
    hook_.overran = false;
    const Outcome outcome = call(op);
    const std::string message = vae_last_error();  // before the snapshot's calls clear it
    Snapshot after = take_snapshot(t_, scratch_.file("before.safetensors"));
    check(op, outcome, message, before, after);
    before = std::move(after);
  }
}

void ApiSession::check(Op op, const Outcome& outcome, const std::string& message,
                       const Snapshot& before, const Snapshot& after) const {
  const std::string call = op_name(op);
  const std::vector<std::string> changed = differences(before, after);
  const auto only = [&](auto allowed, const char* what) {
    for (const std::string& name : changed) {
      require(allowed(name), call + " " + what + " but changed " + joined(changed));
    }
  };
  const auto nothing = [](const std::string&) { return false; };
  // A step changes the parameters, the moments and the step counters, or,
  // skipped for a non-finite loss or gradient, only the count of skipped
  // steps (vae.h, vae_train_step); either way the last step's gradient norm,
  // and with the steps taken the next step's rate.
  const auto step_part = [](const std::string& n) {
    const Part p = part_of(n);
    return p == Part::kParameter || p == Part::kMoment || n == kSteps ||
           n == "libvae.encoder_steps" || n == "libvae.decoder_steps" ||
           n == "option " + std::to_string(VAE_OPT_STEPS) ||
           n == "option " + std::to_string(VAE_OPT_SKIPPED_STEPS) ||
           n == "option " + std::to_string(VAE_OPT_GRAD_NORM) ||
           n == "option " + std::to_string(VAE_OPT_NEXT_LEARNING_RATE);
  };
  const int64_t taken = counter(after, kSteps) - counter(before, kSteps);
  const int64_t skipped = skipped_steps(after) - skipped_steps(before);

  // A hook that wrote past its buffer fails its step (vae.h, the guard).
  require(!hook_.overran || (outcome.status == VAE_ERROR_DEVICE &&
                             message.find("past the end of its buffer") != std::string::npos),
          call + ": the allreduce hook wrote past its buffer, yet the call returned status " +
              std::to_string(outcome.status) + ": " + message);
  if (outcome.status != VAE_OK) {
    // VAE_ERROR_INTERRUPTED only where the progress callback interrupted
    // an epoch (ApiSession::train_epoch checks that it did).
    // Or the status the allreduce hook returned, when it is one of vae.h's.
    const bool hook_failed = hook_set_ && outcome.status == hook_.last_status;
    require((outcome.status > VAE_OK && outcome.status < VAE_ERROR_INTERNAL) ||
                (outcome.status == VAE_ERROR_INTERRUPTED && op == Op::kTrainEpoch) || hook_failed,
            call + " returned status " + std::to_string(outcome.status) + ": " + vae_last_error());
    require(!message.empty(), call + " failed without a message");
    // VAE_ERROR_NUMERICAL reports skipped steps: an epoch runs to its end
    // and counts, and a step given a loss pointer may itself have been taken
    // while reporting earlier skipped ones.
    if (outcome.status == VAE_ERROR_NUMERICAL && op == Op::kTrainEpoch) {
      require(counter(after, kEpochs) == counter(before, kEpochs) + 1,
              call + " reported skipped steps but did not count its epoch");
      only([&](const std::string& n) {
             return step_part(n) || n == kEpochs || n == "option " + std::to_string(VAE_OPT_EPOCHS);
           },
           "reported skipped steps");
    } else if (outcome.status == VAE_ERROR_INTERRUPTED) {
      // The steps before the interrupt stay; the epoch is not counted
      // (steps -1: a hook's garbled request stopped it at a step unknown).
      require(outcome.steps < 0 || taken + skipped == outcome.steps,
              call + " was interrupted after " + std::to_string(outcome.steps) +
                  " steps but counted " + std::to_string(taken + skipped));
      only(step_part, "was interrupted");
    } else if (outcome.status == VAE_ERROR_NUMERICAL && is_step(op)) {
      require(taken + skipped == 1, call + " reported skipped steps but queued no step");
      only(step_part, "reported skipped steps");
    } else if (hook_set_ && (is_step(op) || op == Op::kTrainEpoch)) {
      // A shared step: one the hook failed changes nothing (an epoch stops
      // there, after the steps it took, and is not counted); steps that a
      // rank refused or the ranks disagreed on are skipped and counted, and
      // an epoch with such steps runs to its end and counts (vae.h,
      // vae_set_allreduce).
      const bool counted = counter(after, kEpochs) == counter(before, kEpochs) + 1;
      require(!counted || (op == Op::kTrainEpoch && outcome.status == VAE_ERROR_INVALID_ARGUMENT &&
                           hook_.last_status == VAE_OK),
              call + " failed (status " + std::to_string(outcome.status) + ": " + message +
                  ") but counted its epoch");
      only([&](const std::string& n) {
             return step_part(n) ||
                    (counted && (n == kEpochs || n == "option " + std::to_string(VAE_OPT_EPOCHS)));
           },
           "failed in a shared step");
    } else {
      only(nothing, "failed");
    }
    return;
  }
  require(condition_dim_ == 0 || !without_conditions(op),
          call + " accepted rows without conditions on a conditional model");
  require(condition_dim_ == 0 || outcome.dataset == nullptr || outcome.dataset->conditioned,
          call + " accepted a dataset without conditions on a conditional model");
  switch (outcome.effect) {
    case Effect::kNothing:
      only(nothing, "should change nothing");
      return;
    case Effect::kLoaded:
      only([&](const std::string& n) {
             return not_in_checkpoints(n) || threads_lowered_by_load(n, before, after);
           },
           "replaced the trainer with its checkpoint's");
      return;
    case Effect::kOption: {
      const std::string getter = "option " + std::to_string(outcome.option);
      // The options of the rate's schedule change the next step's rate too.
      const bool rate = outcome.option == VAE_OPT_LEARNING_RATE ||
                        (outcome.option >= VAE_OPT_LR_SCHEDULE &&
                         outcome.option <= VAE_OPT_FINAL_LEARNING_RATE);
      const std::string next_rate = "option " + std::to_string(VAE_OPT_NEXT_LEARNING_RATE);
      int configuration = 0;
      only([&](const std::string& n) {
             return n == getter || (rate && n == next_rate) ||
                    (part_of(n) == Part::kConfiguration && ++configuration == 1);
           },
           "sets one option");
      return;
    }
    case Effect::kDraw:
      require(counter(after, kDraws) == counter(before, kDraws) + 1, call + " did not count one draw");
      only([](const std::string& n) { return n == kDraws; }, "draws noise");
      return;
    case Effect::kParameters:
      only([](const std::string& n) { return part_of(n) == Part::kParameter; }, "sets parameters");
      return;
    case Effect::kStep:
    case Effect::kEpoch: {
      const bool epoch = outcome.effect == Effect::kEpoch;
      const int64_t steps = epoch ? outcome.steps : 1;
      require(taken + skipped == steps,
              call + " did not count its " + std::to_string(steps) + " steps, taken or skipped");
      require(counter(after, kEpochs) == counter(before, kEpochs) + (epoch ? 1 : 0),
              call + " miscounted epochs");
      only([&](const std::string& n) {
             return step_part(n) ||
                    (epoch && (n == kEpochs || n == "option " + std::to_string(VAE_OPT_EPOCHS)));
           },
           "trains");
      return;
    }
  }
}

}  // namespace vae_fuzz
