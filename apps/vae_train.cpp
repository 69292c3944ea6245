// vae-train: trains a variational autoencoder with libvae on fashion-mnist
// or on an IDX / .npy file, and writes a checkpoint, metrics.csv and
// pictures into an output directory. Run with --help for the flags.
#include <unistd.h>
#include <vae/vae.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "data_matrix.h"
#include "image_grid.h"
#include "diagnostics_report.h"
#include "early_stopping_run.h"
#include "log_likelihood_report.h"
#include "loss_plot.h"
#include "metrics_csv.h"
#include "options.h"
#include "pictures.h"
#include "progress.h"
#include "run_choices.h"
#include "run_data.h"
#include "setup_report.h"
#include "rank_group.h"
#include "stop_signals.h"
#include "trainer_setup.h"
#include "vae_handles.h"

namespace vae_app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kCheckpointFile[] = "checkpoint.safetensors";
constexpr char kMetricsFile[] = "metrics.csv";
// The pictures of float data span the range of this many leading test rows.
constexpr std::int64_t kGrayRangeRows = 1000;

struct RunFiles {
  fs::path directory;
  fs::path checkpoint;
  fs::path metrics;
  fs::path training;  // the run's training choices (run_choices.h)
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The progress callbacks of one epoch: they redraw its bar as the training
// rows, then the evaluation rows, go by.
// A signal caught just before vae_train_epoch began is lost to it (vae.h,
// vae_interrupt): the training callback passes it on.
struct EpochBar {
  EpochProgress* progress;
  std::int64_t epoch;
  Clock::time_point start;
  vae_trainer* trainer;

  static void training(void* user_data, std::int64_t rows_done, std::int64_t rows_total,
                       double mean_loss) {
    const auto* bar = static_cast<const EpochBar*>(user_data);
    if (StopSignals::received() != 0) vae_interrupt(bar->trainer);
    bar->progress->show_training(bar->epoch, rows_done, rows_total, mean_loss,
                                 seconds_since(bar->start));
  }
  static void evaluation(void* user_data, std::int64_t rows_done, std::int64_t rows_total,
                         double) {
    const auto* bar = static_cast<const EpochBar*>(user_data);
    bar->progress->show_evaluation(bar->epoch, rows_done, rows_total, seconds_since(bar->start));
  }
};

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
  files.training = files.directory / kTrainingChoicesFile;
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

double kl_weight_for_epoch(const Options& options, std::int64_t epoch) {
  if (options.kl_warmup == 0) return options.beta;
  return options.beta *
         std::min(1.0, static_cast<double>(epoch + 1) / static_cast<double>(options.kl_warmup));
}

int update_for_epoch(Schedule schedule, std::int64_t epoch) {
  if (schedule == Schedule::joint) return VAE_UPDATE_ALL;
  return epoch % 2 == 0 ? VAE_UPDATE_ENCODER : VAE_UPDATE_DECODER;
}

// The one line of a run that a signal stopped, on stderr. `during`: the work
// it stopped and dropped ("epoch 5", "the log-likelihood estimate"), empty
// when the run stopped after an epoch.
void report_stop(int signal_number, const std::string& during, std::int64_t epochs_saved,
                 const RunFiles& files) {
  std::fflush(stdout);
  std::string line = std::string("vae-train: interrupted by ") +
                     (signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  if (!during.empty()) line += " during " + during + " (dropped)";
  if (epochs_saved == 0) {
    line += ": no epoch completed, so there is no checkpoint; start the run again";
  } else {
    line += ": " + files.checkpoint.string() + " holds the " + std::to_string(epochs_saved) +
            " epoch(s) done, as metrics.csv; continue with --resume --out " +
            files.directory.string();
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

// Under mpirun every rank trains its part of each batch (rank_group.h);
// rank 0 alone evaluates, saves, prints and draws. Returns the signal that
// stopped the run (StopSignals), or 0 when it ran to its end.
int train(const Options& given, RankGroup& group) {
  Options options = given;
  if (!options.was_given("--threads")) {
    // The ranks on this machine share its cores.
    options.threads = std::max<std::int64_t>(1, options.threads / group.local_size());
  }
  const bool leader = group.rank() == 0;
  const RunFiles files = run_files(options);
  // A resume continues with the run's training choices (run_choices.h).
  bool choices_kept = false;
  if (options.resume) {
    if (std::optional<Options> run = resume_training_choices(files.training.string(), options)) {
      options = std::move(*run);
      choices_kept = true;
    }
    read_metrics_csv(files.metrics.string());  // refuse a damaged file early
  }
  // A resumed model is conditional when its checkpoint is, and reads the
  // labels then.
  TrainerHandle trainer =
      options.resume ? resume_trainer(options, files.checkpoint) : TrainerHandle();
  const bool conditional =
      trainer ? get_int_option(trainer.get(), VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM") > 0
              : options.conditional;
  const DataSets data = load_data(options, conditional);
  if (data.train.type == ElementType::float32 && options.transform) {
    throw UsageError("--transform applies to byte data only; " + data.train.source +
                     " holds float32 values");
  }

  const std::int64_t epoch_steps = (data.train.rows + options.batch - 1) / options.batch;
  if (!trainer) {
    trainer = create_trainer(options, data.train.dim, options.epochs * epoch_steps,
                             class_count(data.train));
  }
  const std::int64_t classes =
      get_int_option(trainer.get(), VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM");
  check_labels(data.train, classes);
  check_labels(data.test, classes);
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
    if (!options.was_given("--batch") && !choices_kept) {
      batch = max_batch;  // a run of an older vae-train, whose batch was not kept
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

  if (leader) {
    fs::create_directories(files.directory);
    // The choices first, then a checkpoint of epoch 0, so that a run killed
    // at any point after them (between its first row of metrics.csv and its
    // first epoch's checkpoint too) leaves a directory --resume continues.
    if (!choices_kept) write_training_choices(files.training.string(), options);
    if (!options.resume) {
      check(vae_save(trainer.get(), files.checkpoint.c_str()),
            "vae_save(" + files.checkpoint.string() + ")");
    }
  }
  SetupFacts facts{data.name, &data.train, &data.test, transform, batch, epochs_done,
                   files.directory.string()};
  print_setup(options, facts, trainer.get());
  std::vector<EpochMetrics> history;  // metrics.csv's rows, rank 0's alone
  EarlyStoppingRun early_stop(options.patience, files.directory / kBestCheckpointFile);
  if (leader && options.resume) {
    std::size_t dropped = 0;
    history = metrics_for_checkpoint(files.metrics.string(), epochs_done, &dropped);
    // Each epoch the checkpoint holds has its row (written just before it):
    // fewer rows (a missing or emptied metrics.csv) means the history is lost.
    if (static_cast<std::int64_t>(history.size()) != epochs_done) {
      throw std::runtime_error(
          files.metrics.string() + ": holds " + std::to_string(history.size()) +
          " row(s) but " + files.checkpoint.string() + " has " + std::to_string(epochs_done) +
          " epoch(s) done: the run's history is incomplete, so --resume would lose it");
    }
    if (dropped > 0) {
      std::printf("%s: dropped %zu row(s) of epochs after the checkpoint's %lld (a run stopped "
                  "between writing them and its checkpoint): trained again\n",
                  files.metrics.string().c_str(), dropped, static_cast<long long>(epochs_done));
    }
    early_stop.resume(history, files.metrics.string(), trainer.get());
  }
  if (group.size() > 1) {
    std::printf("ranks: %d, each training its part of every batch of %lld rows\n", group.size(),
                static_cast<long long>(batch));
  }
  const DatasetHandle train_set =
      make_dataset(trainer.get(), data.train, transform, data.train.rows);
  const DatasetHandle test_set = make_dataset(trainer.get(), data.test, transform, data.test.rows);

  // A run that stopped early trains no further, whatever --epochs says.
  const bool stopped_before = early_stop.stopped(group);
  if (stopped_before) {
    std::printf("%s; no training\n", early_stop.stop_line().c_str());
  } else if (epochs_done >= options.epochs) {
    std::printf("already trained %lld epochs (--epochs %lld): no training\n",
                static_cast<long long>(epochs_done), static_cast<long long>(options.epochs));
  }
  // What a signal leaves (see --help): the checkpoint of the last epoch
  // that completed (vae_save is atomic), the one metrics.csv's last row
  // evaluates, so that --resume continues exactly as an uninterrupted run.
  // An epoch the signal stops drops its steps: the library starts an
  // interrupted epoch again from its first row, and the trainer in memory
  // would no longer match the checkpoint or the metrics. A signal during an
  // epoch's evaluation or saving lets that epoch complete. The ranks of an
  // mpirun stop together: within a shared epoch at the same step (the
  // library sums their requests), and between epochs where they agree.
  std::int64_t epochs_saved = epochs_done;
  int stop_signal = 0;
  std::string dropped;  // the work a signal stopped, for report_stop
  {
    EpochProgress progress(isatty(STDOUT_FILENO) != 0, options.epochs);
    for (std::int64_t epoch = epochs_done; !stopped_before && epoch < options.epochs; ++epoch) {
      const auto epoch_start = Clock::now();
      check(vae_set_float(trainer.get(), VAE_OPT_KL_WEIGHT, kl_weight_for_epoch(options, epoch)),
            "vae_set_float(VAE_OPT_KL_WEIGHT)");
      check(vae_set_int(trainer.get(), VAE_OPT_UPDATE, update_for_epoch(options.schedule, epoch)),
            "vae_set_int(VAE_OPT_UPDATE)");
      EpochBar bar{&progress, epoch + 1, epoch_start, trainer.get()};
      check(vae_set_progress(trainer.get(), &EpochBar::training, &bar), "vae_set_progress");
      float train_loss = 0.0f;
      vae_status status = VAE_OK;
      {
        const InterruptTarget target(trainer.get());
        status = vae_train_epoch(trainer.get(), train_set.get(), batch, &train_loss);
      }
      check(vae_set_progress(trainer.get(), nullptr, nullptr), "vae_set_progress");
      // Only a signal stops an epoch: one caught here, or, in an epoch
      // shared by ranks, on another rank (every rank stops at the same
      // step, and they agree on which signal).
      if (status == VAE_ERROR_INTERRUPTED) {
        stop_signal = group.agree_on_stop(StopSignals::received());
        if (stop_signal != 0) {
          dropped = "epoch " + std::to_string(epoch + 1);
          break;
        }
      }
      check(status, "vae_train_epoch");
      const double train_seconds = seconds_since(epoch_start);
      if (leader) {
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
        // The row first, then the checkpoint (each replaced at once): a
        // run stopped between the two leaves a row that --resume drops.
        history.push_back(metrics);
        write_metrics_csv(files.metrics.string(), history);
        check(vae_save(trainer.get(), files.checkpoint.c_str()),
              "vae_save(" + files.checkpoint.string() + ")");
        epochs_saved = epoch + 1;
        early_stop.after_epoch(metrics, trainer.get());
        progress.finish_epoch(metrics,
                              static_cast<double>(data.train.rows) / std::max(train_seconds, 1e-9),
                              seconds_since(epoch_start));
      }
      // Every rank waits here until rank 0 has evaluated and saved.
      stop_signal = group.agree_on_stop(StopSignals::received());
      if (stop_signal != 0) break;
      if (early_stop.stopped(group)) {
        if (leader) std::printf("%s\n", early_stop.stop_line().c_str());
        break;
      }
    }
  }
  if (!leader) return stop_signal;

  const std::string model = model_description(trainer.get(), options.hidden);
  const auto picture = [&](const char* name) {
    const std::string path = (files.directory / name).string();
    std::printf("writing %s\n", path.c_str());
    return path;
  };
  LogLikelihoodFigures log_px;
  const bool has_log_px = stop_signal == 0 && options.ll_samples > 0;
  if (has_log_px && !report_log_likelihood(options, trainer.get(), data.test, test_set.get(),
                                           transform, &log_px)) {
    stop_signal = StopSignals::received();
    dropped = "the log-likelihood estimate";
  }
  if (stop_signal == 0 &&
      !report_diagnostics(options, trainer.get(), data.test, test_set.get(), transform,
                          has_log_px ? &log_px : nullptr, model, files.directory)) {
    stop_signal = StopSignals::received();
    dropped = "the diagnostics";
  }
  write_loss_png(history, model, picture("loss.png"));
  if (stop_signal != 0) {
    // The pictures would show the model in memory, which after a stopped
    // epoch is not the checkpoint's: a --resume draws them.
    report_stop(stop_signal, dropped, epochs_saved, files);
    return stop_signal;
  }
  // Bytes scale to [0, 1]; float data shows its own range.
  const GrayRange gray = data.test.type == ElementType::uint8
                             ? GrayRange{}
                             : fitting_gray_range(rows_as_floats(
                                   data.test, 0, std::min(data.test.rows, kGrayRangeRows)));
  write_samples_png(trainer.get(), gray, model, picture("samples.png"));
  write_reconstructions_png(trainer.get(), data.test, gray, model, picture("reconstructions.png"));
  if (get_int_option(trainer.get(), VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM") == 2) {
    write_manifold_png(trainer.get(), gray, model, picture("manifold.png"));
    if (classes > 0) {
      std::printf("  (the manifold is each class's own: drawn under class 0's condition)\n");
    }
  }
  return 0;
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
    const StopSignals signals;
    const int stop_signal = train(options, group);
    return stop_signal == 0 ? 0 : exit_status_for_signal(stop_signal);
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
    // A stop signal that interrupted a blocked system call (stop_signals.h)
    // made the error: the run ends as that signal asks.
    const int stop_signal = StopSignals::received();
    return stop_signal != 0 ? exit_status_for_signal(stop_signal) : 1;
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
  // A signal stops the ranks together (train), so they finalize together.
  if (status != 0 && !is_signal_exit_status(status) && group->size() > 1) {
    group->abort_all(status);
  }
  return status;
}

}  // namespace
}  // namespace vae_app

int main(int argc, char** argv) { return vae_app::run_ranks(argc, argv); }
