// vae-train: trains a variational autoencoder with libvae on fashion-mnist
// or on an IDX / .npy file, and writes a checkpoint, metrics.csv and
// pictures into an output directory. Run with --help for the flags.
#include <unistd.h>
#include <vae/vae.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "data_loader.h"
#include "data_matrix.h"
#include "image_grid.h"
#include "loss_plot.h"
#include "metrics_csv.h"
#include "options.h"
#include "pictures.h"
#include "progress.h"
#include "rank_group.h"
#include "vae_handles.h"

namespace vae_app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kFashionMnistDirectory[] = "/usr/share/datasets/fashion-mnist";
constexpr char kFashionMnistTrainFile[] = "train-images-idx3-ubyte.gz";
constexpr char kFashionMnistTestFile[] = "t10k-images-idx3-ubyte.gz";
constexpr char kCheckpointFile[] = "checkpoint.safetensors";
constexpr char kMetricsFile[] = "metrics.csv";
// Without --test, a data file gives its last rows / kHoldOutDivisor rows to testing.
constexpr std::int64_t kHoldOutDivisor = 10;
// The pictures of float data span the range of this many leading test rows.
constexpr std::int64_t kGrayRangeRows = 1000;

// fashion-mnist is not installed; what() is the whole message to print.
class MissingDatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DataSets {
  std::string name;
  DataMatrix train;
  DataMatrix test;
};

struct RunFiles {
  fs::path directory;
  fs::path checkpoint;
  fs::path metrics;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The progress callbacks of one epoch: they redraw its bar as the training
// rows, then the evaluation rows, go by.
struct EpochBar {
  EpochProgress* progress;
  std::int64_t epoch;
  Clock::time_point start;

  static void training(void* user_data, std::int64_t rows_done, std::int64_t rows_total,
                       double mean_loss) {
    const auto* bar = static_cast<const EpochBar*>(user_data);
    bar->progress->show_training(bar->epoch, rows_done, rows_total, mean_loss,
                                 seconds_since(bar->start));
  }
  static void evaluation(void* user_data, std::int64_t rows_done, std::int64_t rows_total,
                         double) {
    const auto* bar = static_cast<const EpochBar*>(user_data);
    bar->progress->show_evaluation(bar->epoch, rows_done, rows_total, seconds_since(bar->start));
  }
};

// The progress callback of the log-likelihood estimate.
struct TaskBar {
  TaskProgress* progress;
  Clock::time_point start;

  static void update(void* user_data, std::int64_t rows_done, std::int64_t rows_total,
                     double running_mean) {
    const auto* bar = static_cast<const TaskBar*>(user_data);
    bar->progress->update(rows_done, rows_total, running_mean, seconds_since(bar->start));
  }
};

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

DataSets load_data(const Options& options) {
  DataSets sets;
  if (options.data == kFashionMnist) {
    const fs::path directory = kFashionMnistDirectory;
    std::error_code error;
    if (!fs::exists(directory / kFashionMnistTrainFile, error) ||
        !fs::exists(directory / kFashionMnistTestFile, error)) {
      throw MissingDatasetError(std::string("fashion-mnist not found in ") +
                                kFashionMnistDirectory +
                                "; install it with: sudo apt-get install dataset-fashion-mnist");
    }
    sets.name = kFashionMnist;
    sets.train = read_data_file((directory / kFashionMnistTrainFile).string());
    if (options.test_path.empty()) {
      sets.test = read_data_file((directory / kFashionMnistTestFile).string());
    }
  } else {
    sets.name = options.data;
    sets.train = read_data_file(options.data);
  }
  if (!options.test_path.empty()) {
    sets.test = read_data_file(options.test_path);
  } else if (options.data != kFashionMnist) {
    if (sets.train.rows < 2) {
      throw std::runtime_error(options.data +
                               ": one row is too few to hold out a test set; give --test");
    }
    sets.test = split_off_last_rows(sets.train,
                                    std::max<std::int64_t>(1, sets.train.rows / kHoldOutDivisor));
    std::printf("test set: the last %lld rows of %s (no --test given)\n",
                static_cast<long long>(sets.test.rows), options.data.c_str());
  }
  if (sets.test.dim != sets.train.dim) {
    throw std::runtime_error(sets.test.source + ": rows of " + std::to_string(sets.test.dim) +
                             " values, but the training rows have " +
                             std::to_string(sets.train.dim));
  }
  if (sets.test.type != sets.train.type) {
    throw std::runtime_error(sets.test.source + ": holds " + element_type_name(sets.test.type) +
                             " values, but the training data holds " +
                             element_type_name(sets.train.type));
  }
  return sets;
}

std::string default_run_directory() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return (fs::path("runs") / stamp).string();
}

RunFiles run_files(const Options& options) {
  RunFiles files;
  files.directory = options.out_dir.empty() ? default_run_directory() : options.out_dir;
  files.checkpoint = files.directory / kCheckpointFile;
  files.metrics = files.directory / kMetricsFile;
  std::error_code error;
  if (options.resume && !fs::exists(files.checkpoint, error)) {
    throw UsageError("--resume: " + files.checkpoint.string() + " does not exist");
  }
  if (!options.resume &&
      (fs::exists(files.checkpoint, error) || fs::exists(files.metrics, error))) {
    throw UsageError(files.directory.string() +
                     " already holds a run; continue it with --resume or choose another --out");
  }
  return files;
}

TrainerHandle create_trainer(const Options& options, std::int64_t input_dim) {
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
  }
  set_int(VAE_OPT_ACTIVATION, options.activation, "VAE_OPT_ACTIVATION");
  set_int(VAE_OPT_BACKEND, options.backend, "VAE_OPT_BACKEND");
  set_int(VAE_OPT_SEED, options.seed, "VAE_OPT_SEED");
  set_int(VAE_OPT_SAMPLES, options.samples, "VAE_OPT_SAMPLES");
  set_int(VAE_OPT_OBJECTIVE, options.objective, "VAE_OPT_OBJECTIVE");
  set_int(VAE_OPT_THREADS, options.threads, "VAE_OPT_THREADS");
  set_float(VAE_OPT_LEARNING_RATE, options.learning_rate, "VAE_OPT_LEARNING_RATE");
  set_float(VAE_OPT_KL_WEIGHT, options.beta, "VAE_OPT_KL_WEIGHT");
  check(vae_config_set_hidden_layers(config.get(),
                                     options.hidden.empty() ? nullptr : options.hidden.data(),
                                     static_cast<std::int32_t>(options.hidden.size())),
        "vae_config_set_hidden_layers");
  vae_trainer* trainer = nullptr;
  check(vae_create(config.get(), &trainer), "vae_create");
  return TrainerHandle(trainer);
}

// The checkpoint's trainer, with the options a run may change taken from
// the command line: threads always, the learning rate and objective if given.
TrainerHandle resume_trainer(const Options& options, const fs::path& checkpoint) {
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

// The library's copy of the first `rows` rows of `data`.
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
  return DatasetHandle(dataset);
}

double kl_weight_for_epoch(const Options& options, std::int64_t epoch) {
  if (options.kl_warmup == 0) return options.beta;
  return options.beta *
         std::min(1.0, static_cast<double>(epoch + 1) / static_cast<double>(options.kl_warmup));
}

int update_for_epoch(Schedule schedule, std::int64_t epoch) {
  if (schedule == Schedule::joint) return VAE_UPDATE_ALL;
  return epoch % 2 == 0 ? VAE_UPDATE_ENCODER : VAE_UPDATE_DECODER;
}

void print_setup(const Options& options, const DataSets& data, vae_trainer* trainer, int transform,
                 std::int64_t batch, std::int64_t epochs_done, const RunFiles& files) {
  std::printf("data: %s: %lld training rows, %lld test rows, %lld %s values per row",
              data.name.c_str(), static_cast<long long>(data.train.rows),
              static_cast<long long>(data.test.rows), static_cast<long long>(data.train.dim),
              element_type_name(data.train.type));
  if (data.train.type == ElementType::uint8) {
    std::printf(", transform %s", transform_name(transform));
  }
  if (data.train.type == ElementType::uint8 && transform == VAE_BYTES_DEQUANTIZE) {
    std::printf(
        "\n      (test figures are the discrete bound: the density's less D*log(256) = %.1f nats;"
        " the training loss is the density's)",
        static_cast<double>(data.train.dim) * std::log(256.0));
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
  std::printf("training: batch %lld, beta %g", static_cast<long long>(batch), options.beta);
  if (options.kl_warmup > 0) {
    std::printf(" after a %lld-epoch warm-up", static_cast<long long>(options.kl_warmup));
  }
  std::printf(", %s schedule, backend %s, %lld threads\n",
              options.schedule == Schedule::joint ? "joint" : "alternate (E/M)",
              backend_name(get_int_option(trainer, VAE_OPT_BACKEND, "VAE_OPT_BACKEND")),
              static_cast<long long>(options.threads));
  if (options.resume) {
    std::printf("resuming %s after epoch %lld of %lld\n", files.directory.c_str(),
                static_cast<long long>(epochs_done), static_cast<long long>(options.epochs));
  } else {
    std::printf("output: %s\n", files.directory.c_str());
  }
  std::fflush(stdout);
}

void report_log_likelihood(const Options& options, vae_trainer* trainer, const DataMatrix& test,
                           vae_dataset* test_set, int transform) {
  const std::int64_t rows = std::min(options.ll_rows.value_or(test.rows), test.rows);
  DatasetHandle subset;
  if (rows < test.rows) subset = make_dataset(trainer, test, transform, rows);
  std::printf("estimating the test log-likelihood (importance sampling, K=%lld, %lld rows)...\n",
              static_cast<long long>(options.ll_samples), static_cast<long long>(rows));
  std::fflush(stdout);
  const auto start = Clock::now();
  double log_likelihood = 0.0;
  {
    TaskProgress progress(isatty(STDOUT_FILENO) != 0, "log-likelihood");
    TaskBar bar{&progress, start};
    check(vae_set_progress(trainer, &TaskBar::update, &bar), "vae_set_progress");
    const vae_status status = vae_log_likelihood_dataset(
        trainer, subset ? subset.get() : test_set, static_cast<std::int32_t>(options.ll_samples),
        VAE_ESTIMATOR_IMPORTANCE, &log_likelihood);
    check(vae_set_progress(trainer, nullptr, nullptr), "vae_set_progress");
    check(status, "vae_log_likelihood_dataset");
  }
  std::printf("test log-likelihood: %.2f nats (%.1f s)\n", log_likelihood, seconds_since(start));
  if (test.type == ElementType::uint8 && transform == VAE_BYTES_DEQUANTIZE) {
    std::printf("bits per dimension: %.4f\n",
                -log_likelihood / (static_cast<double>(test.dim) * std::log(2.0)));
  }
}

// Under mpirun every rank trains its part of each batch (rank_group.h);
// rank 0 alone evaluates, saves, prints and draws.
void train(const Options& given, RankGroup& group) {
  Options options = given;
  if (!options.was_given("--threads")) {
    // The ranks on this machine share its cores.
    options.threads = std::max<std::int64_t>(1, options.threads / group.local_size());
  }
  const bool leader = group.rank() == 0;
  const RunFiles files = run_files(options);
  if (options.resume) read_metrics_csv(files.metrics.string());  // refuse a damaged file early
  const DataSets data = load_data(options);
  if (data.train.type == ElementType::float32 && options.transform) {
    throw UsageError("--transform applies to byte data only; " + data.train.source +
                     " holds float32 values");
  }

  const TrainerHandle trainer = options.resume ? resume_trainer(options, files.checkpoint)
                                               : create_trainer(options, data.train.dim);
  group.attach(trainer.get());
  const std::int64_t input_dim =
      get_int_option(trainer.get(), VAE_OPT_INPUT_DIM, "VAE_OPT_INPUT_DIM");
  if (input_dim != data.train.dim) {
    throw std::runtime_error(files.checkpoint.string() + ": the model takes rows of " +
                             std::to_string(input_dim) + " values, " + data.train.source +
                             " has rows of " + std::to_string(data.train.dim) +
                             (options.resume ? " (give the run's --data)" : ""));
  }
  std::int64_t batch = options.batch;
  if (options.resume) {
    const std::int64_t max_batch =
        get_int_option(trainer.get(), VAE_OPT_MAX_BATCH, "VAE_OPT_MAX_BATCH");
    if (!options.was_given("--batch")) {
      batch = max_batch;
    } else if (batch > max_batch) {
      throw UsageError("--batch " + std::to_string(batch) +
                       " exceeds the checkpoint's maximum batch " + std::to_string(max_batch));
    }
  }
  const bool gaussian = get_int_option(trainer.get(), VAE_OPT_LIKELIHOOD, "VAE_OPT_LIKELIHOOD") ==
                        VAE_LIKELIHOOD_GAUSSIAN;
  const int transform =
      options.transform.value_or(gaussian ? VAE_BYTES_DEQUANTIZE : VAE_BYTES_BINARIZE);
  const std::int64_t epochs_done = get_int_option(trainer.get(), VAE_OPT_EPOCHS, "VAE_OPT_EPOCHS");

  if (leader) fs::create_directories(files.directory);
  print_setup(options, data, trainer.get(), transform, batch, epochs_done, files);
  if (group.size() > 1) {
    std::printf("ranks: %d, each training its part of every batch of %lld rows\n", group.size(),
                static_cast<long long>(batch));
  }
  const DatasetHandle train_set =
      make_dataset(trainer.get(), data.train, transform, data.train.rows);
  const DatasetHandle test_set = make_dataset(trainer.get(), data.test, transform, data.test.rows);

  if (epochs_done >= options.epochs) {
    std::printf("already trained %lld epochs (--epochs %lld): no training\n",
                static_cast<long long>(epochs_done), static_cast<long long>(options.epochs));
  }
  {
    EpochProgress progress(isatty(STDOUT_FILENO) != 0, options.epochs);
    for (std::int64_t epoch = epochs_done; epoch < options.epochs; ++epoch) {
      const auto epoch_start = Clock::now();
      check(vae_set_float(trainer.get(), VAE_OPT_KL_WEIGHT, kl_weight_for_epoch(options, epoch)),
            "vae_set_float(VAE_OPT_KL_WEIGHT)");
      check(vae_set_int(trainer.get(), VAE_OPT_UPDATE, update_for_epoch(options.schedule, epoch)),
            "vae_set_int(VAE_OPT_UPDATE)");
      EpochBar bar{&progress, epoch + 1, epoch_start};
      check(vae_set_progress(trainer.get(), &EpochBar::training, &bar), "vae_set_progress");
      float train_loss = 0.0f;
      check(vae_train_epoch(trainer.get(), train_set.get(), batch, &train_loss), "vae_train_epoch");
      const double train_seconds = seconds_since(epoch_start);
      if (!leader) {
        group.wait_for_all();  // until rank 0 has evaluated and saved
        continue;
      }

      progress.show_stage(epoch + 1, "evaluating");
      bar.start = Clock::now();
      check(vae_set_progress(trainer.get(), &EpochBar::evaluation, &bar), "vae_set_progress");
      EpochMetrics metrics;
      metrics.epoch = epoch + 1;
      metrics.train_loss = train_loss;
      metrics.seconds = train_seconds;
      check(vae_evaluate_dataset(trainer.get(), test_set.get(), &metrics.test_elbo,
                                 &metrics.test_reconstruction, &metrics.test_kl),
            "vae_evaluate_dataset");
      check(vae_set_progress(trainer.get(), nullptr, nullptr), "vae_set_progress");
      progress.show_stage(epoch + 1, "saving");
      check(vae_save(trainer.get(), files.checkpoint.c_str()),
            "vae_save(" + files.checkpoint.string() + ")");
      append_metrics_row(files.metrics.string(), metrics);
      progress.finish_epoch(metrics,
                            static_cast<double>(data.train.rows) / std::max(train_seconds, 1e-9),
                            seconds_since(epoch_start));
      group.wait_for_all();
    }
  }
  if (!leader) return;

  if (options.ll_samples > 0) {
    report_log_likelihood(options, trainer.get(), data.test, test_set.get(), transform);
  }
  const auto picture = [&](const char* name) {
    const std::string path = (files.directory / name).string();
    std::printf("writing %s\n", path.c_str());
    return path;
  };
  const std::string model = model_description(trainer.get(), options.hidden);
  write_loss_png(read_metrics_csv(files.metrics.string()), model, picture("loss.png"));
  // Bytes scale to [0, 1]; float data shows its own range.
  const GrayRange gray = data.test.type == ElementType::uint8
                             ? GrayRange{}
                             : fitting_gray_range(rows_as_floats(
                                   data.test, 0, std::min(data.test.rows, kGrayRangeRows)));
  write_samples_png(trainer.get(), gray, model, picture("samples.png"));
  write_reconstructions_png(trainer.get(), data.test, gray, model, picture("reconstructions.png"));
  if (get_int_option(trainer.get(), VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM") == 2) {
    write_manifold_png(trainer.get(), gray, model, picture("manifold.png"));
  }
}

int run_vae_train(int argc, const char* const* argv, RankGroup& group) {
  // Each rank names itself in its errors.
  const std::string program =
      group.size() > 1 ? "vae-train (rank " + std::to_string(group.rank()) + ")" : "vae-train";
  try {
    const Options options = parse_options(argc, argv);
    if (options.help) {
      std::fputs(help_text().c_str(), stdout);
      return 0;
    }
    train(options, group);
    return 0;
  } catch (const UsageError& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s (try --help)\n", program.c_str(), error.what());
    return 2;
  } catch (const MissingDatasetError& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: out of memory\n", program.c_str());
    return 1;
  } catch (const std::exception& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", program.c_str(), error.what());
    return 1;
  }
}

// Joins the ranks (when a launcher started several), and ends them all if
// this one fails, since the others would wait for it in their next step.
int run_ranks(int argc, char** argv) {
  std::unique_ptr<RankGroup> group;
  try {
    group = join_rank_group(&argc, &argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "vae-train: %s\n", error.what());
    return 1;
  }
  if (group->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) {
    std::fprintf(stderr, "vae-train: cannot silence the output of rank %d\n", group->rank());
  }
  const int status = run_vae_train(argc, argv, *group);
  if (status != 0 && group->size() > 1) group->abort_all(status);
  return status;
}

}  // namespace
}  // namespace vae_app

int main(int argc, char** argv) { return vae_app::run_ranks(argc, argv); }
