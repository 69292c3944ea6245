// The calls of an ApiSession: each reads its arguments from the program,
// makes one C-API call (with buffers as large as the row counts it passes),
// checks what the call returns, and says what the call may change.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "api_session.h"
#include "status_string_of.h"

namespace vae_fuzz {
namespace {

bool valid_backend(int b) { return b >= VAE_BACKEND_AUTO && b <= VAE_BACKEND_CUDA; }

bool no_temporary_files_in(const std::string& directory) {
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) return false;
  }
  return true;
}

}  // namespace

ApiSession::Outcome ApiSession::call(Op op) {
  switch (op) {
    case Op::kSetInt: return set_option(false);
    case Op::kSetFloat: return set_option(true);
    case Op::kGetInt: return get_option(false);
    case Op::kGetFloat: return get_option(true);
    case Op::kTrainStep: return train_step();
    case Op::kEvaluate: return evaluate();
    case Op::kLogLikelihood: return log_likelihood();
    case Op::kEncode: return encode();
    case Op::kDecode: return decode();
    case Op::kSample: return sample();
    case Op::kGetParameters: return get_parameters();
    case Op::kSetParameters: return set_parameters();
    case Op::kParameterCount: return parameter_count();
    case Op::kSave: return save();
    case Op::kLoad: return load();
    case Op::kLoadDamaged: return load_damaged();
    case Op::kDatasetCreate: return create_dataset(false);
    case Op::kDatasetCreateBytes: return create_dataset(true);
    case Op::kDatasetDestroy: return destroy_dataset();
    case Op::kDatasetSize: return dataset_size();
    case Op::kTrainEpoch: return train_epoch();
    case Op::kEvaluateDataset: return evaluate_dataset();
    case Op::kLogLikelihoodDataset: return log_likelihood_dataset();
    case Op::kSetProgress: return set_progress();
    case Op::kForeignDataset: return foreign_dataset();
    case Op::kStatusString: return status_string();
    case Op::kInterrupt: return interrupt();
    case Op::kSetAllreduce: return set_allreduce();
    case Op::kLogLikelihoodStats: return log_likelihood_stats();
    case Op::kLogLikelihoodStatsDataset: return log_likelihood_stats_dataset();
    case Op::kLatentUsage: return latent_usage();
    case Op::kRefinePosterior: return refine_posterior();
    case Op::kTrainStepRows: return train_step_rows();
    case Op::kEvaluateRows: return evaluate_rows();
    case Op::kLogLikelihoodRows: return log_likelihood_rows();
    case Op::kLogLikelihoodStatsRows: return log_likelihood_stats_rows();
    case Op::kEncodeRows: return encode_rows();
    case Op::kDecodeRows: return decode_rows();
    case Op::kSampleRows: return sample_rows();
    case Op::kRefinePosteriorRows: return refine_posterior_rows();
    case Op::kDatasetSetConditions: return set_dataset_conditions(false);
    case Op::kDatasetSetLabels: return set_dataset_conditions(true);
    case Op::kCount: break;
  }
  finding("unknown op");
}

ApiSession::Outcome ApiSession::set_option(bool as_float) {
  Outcome o;
  o.effect = Effect::kOption;
  o.option = program_.option();
  if (as_float) {
    o.status = vae_set_float(t_, o.option, program_.double_value());
  } else {
    o.status = vae_set_int(t_, o.option, program_.int_value());
  }
  return o;
}

ApiSession::Outcome ApiSession::get_option(bool as_float) {
  Outcome o;
  const int option = program_.option();
  const unsigned nulls = program_.null_mask();
  int64_t i = 0;
  double f = 0;
  o.status = as_float ? vae_get_float(unless(nulls, 1, t_), option, unless(nulls, 0, &f))
                      : vae_get_int(unless(nulls, 1, t_), option, unless(nulls, 0, &i));
  return o;
}

ApiSession::Outcome ApiSession::train_step() {
  Outcome o;
  o.effect = Effect::kStep;
  const int64_t n = program_.rows(max_batch_ + 1);
  const std::vector<float> x = floats(max_batch_ + 1, dim_);
  const unsigned nulls = program_.null_mask();
  float loss = std::numeric_limits<float>::quiet_NaN();
  o.status = vae_train_step(t_, unless(nulls, 0, x.data()), n, unless(nulls, 1, &loss));
  if (o.status == VAE_OK && (nulls & 2u) == 0) {
    require(std::isfinite(loss), "vae_train_step returned VAE_OK with a non-finite loss");
  }
  return o;
}

ApiSession::Outcome ApiSession::evaluate() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> x = floats(limit, dim_);
  const unsigned nulls = program_.null_mask();
  std::vector<float> elbo(limit), reconstruction(limit), kl(limit);
  o.status = vae_evaluate(t_, unless(nulls, 0, x.data()), n, unless(nulls, 1, elbo.data()),
                          unless(nulls, 2, reconstruction.data()), unless(nulls, 3, kl.data()));
  return o;
}

int32_t ApiSession::pick_k() {
  const int32_t ks[] = {1, 2, 3, 4, 0, -1, std::numeric_limits<int32_t>::min()};
  return ks[program_.choice(std::size(ks))];
}

ApiSession::Outcome ApiSession::log_likelihood() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> x = floats(limit, dim_);
  const int32_t k = pick_k();
  const int estimator = static_cast<int>(program_.choice(4)) - 1;
  const unsigned nulls = program_.null_mask();
  std::vector<float> log_px(limit);
  o.status = vae_log_likelihood(t_, unless(nulls, 0, x.data()), n, k, estimator,
                                unless(nulls, 1, log_px.data()));
  return o;
}

ApiSession::Outcome ApiSession::encode() {
  Outcome o;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> x = floats(limit, dim_);
  const unsigned nulls = program_.null_mask();
  std::vector<float> mu(limit * latent_), logvar(limit * latent_);
  o.status = vae_encode(t_, unless(nulls, 0, x.data()), n, unless(nulls, 1, mu.data()),
                        unless(nulls, 2, logvar.data()));
  return o;
}

ApiSession::Outcome ApiSession::decode() {
  Outcome o;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> z = floats(limit, latent_);
  const unsigned nulls = program_.null_mask();
  std::vector<float> mean(limit * dim_);
  o.status = vae_decode(t_, unless(nulls, 0, z.data()), n, unless(nulls, 1, mean.data()));
  return o;
}

ApiSession::Outcome ApiSession::sample() {
  Outcome o;
  o.effect = Effect::kDraw;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const unsigned nulls = program_.null_mask();
  std::vector<float> mean(limit * dim_);
  o.status = vae_sample(t_, n, unless(nulls, 0, mean.data()));
  return o;
}

ApiSession::Outcome ApiSession::get_parameters() {
  Outcome o;
  const int64_t count = parameters_ + static_cast<int64_t>(program_.choice(5)) - 2;
  const unsigned nulls = program_.null_mask();
  std::vector<float> out(static_cast<std::size_t>(parameters_ + 2));
  o.status = vae_get_parameters(t_, unless(nulls, 0, out.data()), count);
  return o;
}

ApiSession::Outcome ApiSession::set_parameters() {
  Outcome o;
  o.effect = Effect::kParameters;
  const int64_t count = parameters_ + static_cast<int64_t>(program_.choice(5)) - 2;
  const std::vector<float> in = floats(parameters_ + 2, 1);
  const unsigned nulls = program_.null_mask();
  o.status = vae_set_parameters(t_, unless(nulls, 0, in.data()), count);
  return o;
}

ApiSession::Outcome ApiSession::parameter_count() {
  Outcome o;
  const unsigned nulls = program_.null_mask();
  int64_t count = -1;
  o.status = vae_parameter_count(t_, unless(nulls, 0, &count));
  if (o.status == VAE_OK) require(count == parameters_, "vae_parameter_count changed its answer");
  return o;
}

// A save to a good path, to a missing directory, over a directory, or to
// NULL; none may leave a temporary file behind.
ApiSession::Outcome ApiSession::save() {
  Outcome o;
  const std::string directory = scratch_.file("");
  std::filesystem::create_directories(scratch_.file("a-directory"));
  const std::string paths[] = {scratch_.file("saved.safetensors"),
                               scratch_.file("missing/saved.safetensors"),
                               scratch_.file("a-directory")};
  const std::size_t which = program_.choice(4);
  o.status = vae_save(t_, which < 3 ? paths[which].c_str() : nullptr);
  require(no_temporary_files_in(directory), "vae_save left a temporary file behind");
  return o;
}

// Saves, then loads with any backend argument; a trainer it loads is the one
// saved, and may take the place of the session's trainer.
ApiSession::Outcome ApiSession::load() {
  Outcome o;
  const std::string path = scratch_.file("load.safetensors");
  if (vae_save(t_, path.c_str()) != VAE_OK) finding("vae_save of a live trainer failed");
  const Snapshot saved = take_snapshot(t_, scratch_.file("saved-state.safetensors"));
  const int backend = static_cast<int>(program_.choice(5)) - 1;
  const bool keep = program_.one_in(2);
  const unsigned nulls = program_.null_mask();
  vae_trainer* loaded = nullptr;
  const vae_status status = vae_load(unless(nulls, 0, path.c_str()), backend, unless(nulls, 1, &loaded));
  if (status != VAE_OK) {
    require(loaded == nullptr, "a failed vae_load set *out");
    require(!valid_backend(backend) || (nulls & 3u) != 0 || backend == VAE_BACKEND_CUDA,
            std::string("vae_load of a checkpoint just saved failed: ") + vae_last_error());
    o.status = status;
    return o;
  }
  // A checkpoint does not keep the skipped steps (counted from the load)
  // nor the rank and world size, which belong to the run (vae.h).
  // vae_load lowers the file's thread count to the CPUs the process may use.
  const Snapshot reloaded = take_snapshot(loaded, scratch_.file("loaded-state.safetensors"));
  for (const std::string& name : differences(saved, reloaded)) {
    if (!not_in_checkpoints(name) && !threads_lowered_by_load(name, saved, reloaded)) {
      finding("save -> load changed the trainer's " + name);
    }
  }
  if (keep) {
    destroy_datasets_of(t_);
    vae_destroy(t_);
    t_ = loaded;
    hook_set_ = false;  // a checkpoint holds no hook
    o.effect = Effect::kLoaded;
  } else {
    vae_destroy(loaded);
  }
  return o;
}

// vae_load of a damaged copy of a checkpoint: truncated, a byte flipped or set.
ApiSession::Outcome ApiSession::load_damaged() {
  Outcome o;
  const std::string good = scratch_.file("good.safetensors");
  const std::string damaged = scratch_.file("damaged.safetensors");
  if (vae_save(t_, good.c_str()) != VAE_OK) finding("vae_save of a live trainer failed");
  Bytes bytes = read_bytes(good);
  const std::size_t kind = program_.choice(3);
  const std::size_t at = (std::size_t{program_.byte()} << 8 | program_.byte()) % bytes.size();
  const std::uint8_t value = program_.byte();
  if (kind == 0) bytes.resize(at);
  if (kind == 1) bytes[at] ^= static_cast<std::uint8_t>(value | 1u);
  if (kind == 2) bytes[at] = value;
  write_bytes(damaged, bytes);
  vae_trainer* loaded = nullptr;
  if (vae_load(damaged.c_str(), VAE_BACKEND_CPU, &loaded) == VAE_OK) {
    vae_destroy(loaded);
  } else {
    require(loaded == nullptr, "a failed vae_load set *out");
  }
  return o;
}

ApiSession::Outcome ApiSession::create_dataset(bool bytes) {
  Outcome o;
  const int64_t limit = 3 * max_batch_ + 1;
  const int64_t n = program_.rows(limit);
  const std::vector<float> x = bytes ? std::vector<float>() : floats(limit, dim_);
  const std::vector<std::uint8_t> y = bytes ? program_.bytes(limit * dim_) : std::vector<std::uint8_t>();
  const int transform = bytes ? static_cast<int>(program_.choice(5)) - 1 : 0;
  const unsigned nulls = program_.null_mask();
  vae_dataset* ds = nullptr;
  o.status = bytes ? vae_dataset_create_u8(t_, unless(nulls, 0, y.data()), n, transform,
                                           unless(nulls, 1, &ds))
                   : vae_dataset_create(t_, unless(nulls, 0, x.data()), n, unless(nulls, 1, &ds));
  if (o.status == VAE_OK) {
    datasets_.push_back({ds, t_, n});
  } else {
    require(ds == nullptr, "a failed vae_dataset_create set *out");
  }
  return o;
}

ApiSession::Dataset* ApiSession::pick_dataset() {
  const std::size_t i = program_.choice(datasets_.size() + 1);
  return i < datasets_.size() ? &datasets_[i] : nullptr;
}

void ApiSession::destroy_datasets_of(const vae_trainer* owner) {
  const auto mine = [owner](const Dataset& d) { return d.owner == owner; };
  for (const Dataset& d : datasets_) {
    if (mine(d)) vae_dataset_destroy(d.handle);
  }
  datasets_.erase(std::remove_if(datasets_.begin(), datasets_.end(), mine), datasets_.end());
}

ApiSession::Outcome ApiSession::destroy_dataset() {
  const std::size_t i = program_.choice(datasets_.size() + 1);
  if (i == datasets_.size()) {
    vae_dataset_destroy(nullptr);
  } else {
    vae_dataset_destroy(datasets_[i].handle);
    datasets_.erase(datasets_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return Outcome{};
}

ApiSession::Outcome ApiSession::dataset_size() {
  Outcome o;
  Dataset* d = pick_dataset();
  const unsigned nulls = program_.null_mask();
  int64_t n = -1;
  o.status = vae_dataset_size(d ? d->handle : nullptr, unless(nulls, 0, &n));
  if (o.status == VAE_OK) require(d != nullptr && n == d->rows, "vae_dataset_size gave the wrong size");
  return o;
}

ApiSession::Outcome ApiSession::train_epoch() {
  Outcome o;
  o.effect = Effect::kEpoch;
  Dataset* d = pick_dataset();
  o.dataset = d;
  const int64_t batch = program_.rows(max_batch_ + 1);
  const unsigned nulls = program_.null_mask();
  float mean_loss = std::numeric_limits<float>::quiet_NaN();
  progress_ = ProgressLog{0, d ? d->rows : 0, false, t_, interrupt_at_};
  o.status = vae_train_epoch(t_, d ? d->handle : nullptr, batch, unless(nulls, 0, &mean_loss));
  if (hook_set_) {
    // A shared epoch stops on every rank at the same step (vae.h,
    // vae_interrupt): the interrupted rank asks in its next step, and the
    // ranks read the request where progress is next due, here after every
    // step (an epoch of at most 64 steps). A hook that garbles the request's
    // slot may ask too.
    const int64_t steps = batch > 0 && d != nullptr ? (d->rows + batch - 1) / batch : 0;
    const int64_t stop_after =
        progress_.interrupted_rows > 0 ? progress_.interrupted_rows / batch + 1 : steps;
    if (o.status == VAE_ERROR_INTERRUPTED) {
      require(stop_after < steps || hook_.garbled_stop,
              "a shared epoch stopped, but no rank was interrupted before its last step");
      require(std::isnan(mean_loss), "an interrupted vae_train_epoch wrote *mean_loss");
      o.steps = hook_.garbled_stop ? -1 : stop_after;
    } else if (o.status == VAE_OK) {
      require(stop_after >= steps || hook_.garbled_stop,
              "a shared epoch ran on after a rank was interrupted");
    }
  } else if (o.status == VAE_ERROR_INTERRUPTED) {
    require(progress_.interrupted_rows > 0 && progress_.interrupted_rows < progress_.total,
            "vae_train_epoch returned VAE_ERROR_INTERRUPTED, but nothing interrupted it before its "
            "last step");
    require(std::isnan(mean_loss), "an interrupted vae_train_epoch wrote *mean_loss");
    o.steps = progress_.interrupted_rows / batch;
  } else if (progress_.interrupted_rows >= 0) {
    require(progress_.interrupted_rows == progress_.total,
            "vae_train_epoch ran on after the progress callback interrupted it");
  }
  if (o.status == VAE_OK) {
    require(d != nullptr && d->owner == t_, "vae_train_epoch trained on another trainer's dataset");
    o.steps = (d->rows + batch - 1) / batch;
    require((nulls & 1u) != 0 || std::isfinite(mean_loss), "vae_train_epoch: a non-finite mean loss");
  }
  return o;
}

ApiSession::Outcome ApiSession::evaluate_dataset() {
  Outcome o;
  o.effect = Effect::kDraw;
  Dataset* d = pick_dataset();
  o.dataset = d;
  const unsigned nulls = program_.null_mask();
  double elbo = 0, reconstruction = 0, kl = 0;
  progress_ = ProgressLog{0, d ? d->rows : 0, true};
  o.status = vae_evaluate_dataset(t_, d ? d->handle : nullptr, unless(nulls, 0, &elbo),
                                  unless(nulls, 1, &reconstruction), unless(nulls, 2, &kl));
  return o;
}

ApiSession::Outcome ApiSession::log_likelihood_dataset() {
  Outcome o;
  o.effect = Effect::kDraw;
  Dataset* d = pick_dataset();
  o.dataset = d;
  const int32_t k = pick_k();
  const int estimator = static_cast<int>(program_.choice(4)) - 1;
  const unsigned nulls = program_.null_mask();
  double mean = 0;
  progress_ = ProgressLog{0, d ? d->rows : 0, true};
  o.status = vae_log_likelihood_dataset(t_, d ? d->handle : nullptr, k, estimator,
                                        unless(nulls, 0, &mean));
  return o;
}

void ApiSession::record_progress(void* user_data, int64_t done, int64_t total, double mean_loss) {
  auto* log = static_cast<ProgressLog*>(user_data);
  const bool next = log->evaluation ? done >= log->done : done > log->done && std::isfinite(mean_loss);
  require(total == log->total && next && done <= total,
          "the progress callback got rows " + std::to_string(done) + " of " + std::to_string(total) +
              " after " + std::to_string(log->done) + " of " + std::to_string(log->total));
  log->done = done;
  if (++log->calls == log->interrupt_at) {
    require(vae_interrupt(log->trainer) == VAE_OK, "vae_interrupt from the progress callback failed");
    log->interrupted_rows = done;
  }
}

ApiSession::Outcome ApiSession::set_progress() {
  Outcome o;
  const bool on = program_.one_in(2);
  if (on) interrupt_at_ = static_cast<int64_t>(program_.choice(4));
  o.status = vae_set_progress(t_, on ? &ApiSession::record_progress : nullptr, &progress_);
  return o;
}

// With no long call running, an interrupt changes nothing, and the next
// epoch runs whole (ApiSession::train_epoch).
ApiSession::Outcome ApiSession::interrupt() {
  Outcome o;
  const unsigned nulls = program_.null_mask();
  o.status = vae_interrupt(unless(nulls, 0, t_));
  require(o.status == ((nulls & 1u) != 0 ? VAE_ERROR_INVALID_ARGUMENT : VAE_OK),
          "vae_interrupt gave the wrong status");
  return o;
}

// A dataset of a second trainer, which calls on this one must refuse.
ApiSession::Outcome ApiSession::foreign_dataset() {
  Outcome o;
  if (other_ == nullptr && vae_create(config_, &other_) != VAE_OK) finding("second vae_create failed");
  const int64_t n = 1 + static_cast<int64_t>(program_.choice(static_cast<std::size_t>(max_batch_)));
  // Valid rows for any likelihood: this dataset must be made.
  const std::vector<float> x(static_cast<std::size_t>(n * dim_), 0.5f);
  vae_dataset* ds = nullptr;
  if (vae_dataset_create(other_, x.data(), n, &ds) != VAE_OK) {
    finding(std::string("vae_dataset_create of valid rows failed: ") + vae_last_error());
  }
  datasets_.push_back({ds, other_, n});
  return o;
}

ApiSession::Outcome ApiSession::status_string() {
  const char* text = status_string_of(static_cast<int>(program_.int_value()));
  require(text != nullptr && *text != '\0', "vae_status_string gave no text");
  return Outcome{};
}

}  // namespace vae_fuzz
