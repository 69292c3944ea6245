#include "options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <thread>
#include <utility>

namespace vae_app {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMaxDefaultThreads = 8;

std::int64_t parse_integer(const std::string& flag, const std::string& text, std::int64_t low,
                           std::int64_t high) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size() ||
      (error != std::errc() && error != std::errc::result_out_of_range)) {
    throw UsageError(flag + ": '" + text + "' is not an integer");
  }
  if (error == std::errc::result_out_of_range || value < low || value > high) {
    throw UsageError(flag + ": " + text + " is out of range [" + std::to_string(low) + ", " +
                     (high == kInt64Max ? std::string("...") : std::to_string(high)) + "]");
  }
  return value;
}

double parse_real(const std::string& flag, const std::string& text) {
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size() || error != std::errc() ||
      !std::isfinite(value)) {
    throw UsageError(flag + ": '" + text + "' is not a finite number");
  }
  return value;
}

double parse_positive(const std::string& flag, const std::string& text) {
  const double value = parse_real(flag, text);
  if (!(value > 0.0)) throw UsageError(flag + ": " + text + " is out of range (must be > 0)");
  return value;
}

double parse_non_negative(const std::string& flag, const std::string& text) {
  const double value = parse_real(flag, text);
  if (!(value >= 0.0)) throw UsageError(flag + ": " + text + " is out of range (must be >= 0)");
  return value;
}

int parse_choice(const std::string& flag, const std::string& text,
                 std::initializer_list<std::pair<const char*, int>> choices) {
  std::string names;
  for (const auto& [name, value] : choices) {
    if (text == name) return value;
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  throw UsageError(flag + ": '" + text + "' is not one of " + names);
}

std::vector<std::int32_t> parse_widths(const std::string& flag, const std::string& text) {
  std::vector<std::int32_t> widths;
  if (text.empty()) return widths;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string width = text.substr(start, comma - start);
    if (width.empty()) throw UsageError(flag + ": empty width in '" + text + "'");
    widths.push_back(static_cast<std::int32_t>(parse_integer(flag, width, 1, 65536)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (widths.size() > VAE_MAX_HIDDEN_LAYERS) {
    throw UsageError(flag + ": " + std::to_string(widths.size()) + " hidden layers, at most " +
                     std::to_string(VAE_MAX_HIDDEN_LAYERS));
  }
  return widths;
}

using ValueSetter =
    std::function<void(Options&, const std::string& flag, const std::string& value)>;

struct ValueFlag {
  const char* name;
  ValueSetter set;
};

const std::vector<ValueFlag>& value_flags() {
  static const std::vector<ValueFlag> flags{
      {"--data",
       [](Options& o, const std::string& f, const std::string& v) {
         if (v.empty()) throw UsageError(f + ": empty path");
         o.data = v;
       }},
      {"--test",
       [](Options& o, const std::string& f, const std::string& v) {
         if (v.empty()) throw UsageError(f + ": empty path");
         o.test_path = v;
       }},
      {"--labels",
       [](Options& o, const std::string& f, const std::string& v) {
         if (v.empty()) throw UsageError(f + ": empty path");
         o.labels_path = v;
       }},
      {"--test-labels",
       [](Options& o, const std::string& f, const std::string& v) {
         if (v.empty()) throw UsageError(f + ": empty path");
         o.test_labels_path = v;
       }},
      {"--epochs", [](Options& o, const std::string& f,
                      const std::string& v) { o.epochs = parse_integer(f, v, 0, 1000000); }},
      {"--backend",
       [](Options& o, const std::string& f, const std::string& v) {
         o.backend = parse_choice(
             f, v,
             {{"cpu", VAE_BACKEND_CPU}, {"cuda", VAE_BACKEND_CUDA}, {"auto", VAE_BACKEND_AUTO}});
       }},
      {"--out",
       [](Options& o, const std::string& f, const std::string& v) {
         if (v.empty()) throw UsageError(f + ": empty directory name");
         o.out_dir = v;
       }},
      {"--hidden", [](Options& o, const std::string& f,
                      const std::string& v) { o.hidden = parse_widths(f, v); }},
      {"--latent", [](Options& o, const std::string& f,
                      const std::string& v) { o.latent = parse_integer(f, v, 1, 65536); }},
      {"--activation",
       [](Options& o, const std::string& f, const std::string& v) {
         o.activation =
             parse_choice(f, v, {{"relu", VAE_ACTIVATION_RELU}, {"tanh", VAE_ACTIVATION_TANH}});
       }},
      {"--likelihood",
       [](Options& o, const std::string& f, const std::string& v) {
         o.likelihood = parse_choice(
             f, v,
             {{"bernoulli", VAE_LIKELIHOOD_BERNOULLI}, {"gaussian", VAE_LIKELIHOOD_GAUSSIAN}});
       }},
      {"--variance",
       [](Options& o, const std::string& f, const std::string& v) {
         o.variance = parse_choice(f, v,
                                   {{"fixed", VAE_VARIANCE_FIXED},
                                    {"shared", VAE_VARIANCE_LEARNED_SHARED},
                                    {"per-dim", VAE_VARIANCE_LEARNED_PER_DIM},
                                    {"decoder", VAE_VARIANCE_DECODER}});
       }},
      {"--log-variance", [](Options& o, const std::string& f,
                            const std::string& v) { o.log_variance = parse_real(f, v); }},
      {"--min-log-variance", [](Options& o, const std::string& f,
                                const std::string& v) { o.min_log_variance = parse_real(f, v); }},
      {"--transform",
       [](Options& o, const std::string& f, const std::string& v) {
         o.transform = parse_choice(f, v,
                                    {{"scale", VAE_BYTES_SCALE},
                                     {"binarize", VAE_BYTES_BINARIZE},
                                     {"dequantize", VAE_BYTES_DEQUANTIZE}});
       }},
      {"--batch", [](Options& o, const std::string& f,
                     const std::string& v) { o.batch = parse_integer(f, v, 1, 1 << 20); }},
      {"--lr", [](Options& o, const std::string& f,
                  const std::string& v) { o.learning_rate = parse_positive(f, v); }},
      {"--beta", [](Options& o, const std::string& f,
                    const std::string& v) { o.beta = parse_non_negative(f, v); }},
      {"--kl-warmup", [](Options& o, const std::string& f,
                         const std::string& v) { o.kl_warmup = parse_integer(f, v, 0, 1000000); }},
      {"--samples", [](Options& o, const std::string& f,
                       const std::string& v) { o.samples = parse_integer(f, v, 1, 4096); }},
      {"--prior-components",
       [](Options& o, const std::string& f, const std::string& v) {
         o.prior_components = parse_integer(f, v, 0, 1024);
       }},
      {"--objective",
       [](Options& o, const std::string& f, const std::string& v) {
         o.objective =
             parse_choice(f, v, {{"elbo", VAE_OBJECTIVE_ELBO}, {"iwae", VAE_OBJECTIVE_IWAE}});
       }},
      {"--schedule",
       [](Options& o, const std::string& f, const std::string& v) {
         o.schedule = static_cast<Schedule>(
             parse_choice(f, v,
                          {{"joint", static_cast<int>(Schedule::joint)},
                           {"alternate", static_cast<int>(Schedule::alternate)}}));
       }},
      {"--lr-schedule",
       [](Options& o, const std::string& f, const std::string& v) {
         o.lr_schedule = parse_choice(f, v,
                                      {{"constant", VAE_SCHEDULE_CONSTANT},
                                       {"linear", VAE_SCHEDULE_LINEAR},
                                       {"cosine", VAE_SCHEDULE_COSINE}});
       }},
      {"--lr-warmup", [](Options& o, const std::string& f,
                         const std::string& v) { o.lr_warmup = parse_integer(f, v, 0, kInt64Max); }},
      {"--lr-decay", [](Options& o, const std::string& f,
                        const std::string& v) { o.lr_decay = parse_integer(f, v, 1, kInt64Max); }},
      {"--final-lr", [](Options& o, const std::string& f,
                        const std::string& v) { o.final_lr = parse_non_negative(f, v); }},
      {"--clip-norm", [](Options& o, const std::string& f,
                         const std::string& v) { o.clip_norm = parse_non_negative(f, v); }},
      {"--patience", [](Options& o, const std::string& f,
                        const std::string& v) { o.patience = parse_integer(f, v, 1, 1000000); }},
      {"--threads", [](Options& o, const std::string& f,
                       const std::string& v) { o.threads = parse_integer(f, v, 1, 256); }},
      {"--seed", [](Options& o, const std::string& f,
                    const std::string& v) { o.seed = parse_integer(f, v, 0, kInt64Max); }},
      {"--ll-samples", [](Options& o, const std::string& f,
                          const std::string& v) { o.ll_samples = parse_integer(f, v, 0, 100000); }},
      {"--ll-rows", [](Options& o, const std::string& f,
                       const std::string& v) { o.ll_rows = parse_integer(f, v, 1, kInt64Max); }},
      {"--gap-rows", [](Options& o, const std::string& f,
                        const std::string& v) { o.gap_rows = parse_integer(f, v, 0, 1000000); }},
      {"--gap-steps", [](Options& o, const std::string& f,
                         const std::string& v) { o.gap_steps = parse_integer(f, v, 0, 1000000); }},
  };
  return flags;
}

// Flags that fix the model a checkpoint already holds.
constexpr const char* kModelFlags[] = {"--hidden",           "--latent",     "--activation",
                                       "--likelihood",       "--variance",   "--log-variance",
                                       "--samples",          "--seed",       "--min-log-variance",
                                       "--prior-components", "--conditional"};

// Holds the values given to the library's own ranges (vae.h) by setting
// them on a scratch configuration, so that a value the library would refuse
// is a usage error (exit 2) naming its flag, not a failure of the run.
void check_library_ranges(const Options& options) {
  struct ConfigOwner {
    vae_config* config = nullptr;
    ~ConfigOwner() { vae_config_destroy(config); }
  } owner;
  if (vae_config_create(&owner.config) != VAE_OK) return;  // out of memory: the run reports it
  vae_config* c = owner.config;
  const auto refuse_unless = [](vae_status status, const char* flag) {
    if (status == VAE_ERROR_INVALID_ARGUMENT) {
      throw UsageError(std::string(flag) + ": " + vae_last_error());
    }
  };
  refuse_unless(vae_config_set_float(c, VAE_OPT_LEARNING_RATE, options.learning_rate), "--lr");
  refuse_unless(vae_config_set_float(c, VAE_OPT_KL_WEIGHT, options.beta), "--beta");
  refuse_unless(vae_config_set_int(c, VAE_OPT_WARMUP_STEPS, options.lr_warmup), "--lr-warmup");
  if (options.lr_decay) {
    refuse_unless(vae_config_set_int(c, VAE_OPT_DECAY_STEPS, *options.lr_decay), "--lr-decay");
  }
  refuse_unless(vae_config_set_float(c, VAE_OPT_FINAL_LEARNING_RATE, options.final_lr),
                "--final-lr");
  refuse_unless(vae_config_set_float(c, VAE_OPT_CLIP_NORM, options.clip_norm), "--clip-norm");
  refuse_unless(vae_config_set_float(c, VAE_OPT_LOG_VARIANCE, options.log_variance),
                "--log-variance");
  refuse_unless(vae_config_set_float(c, VAE_OPT_MIN_LOG_VARIANCE, options.min_log_variance),
                "--min-log-variance");
  refuse_unless(vae_config_set_int(c, VAE_OPT_SEED, options.seed), "--seed");
  refuse_unless(vae_config_set_int(c, VAE_OPT_LATENT_DIM, options.latent), "--latent");
  refuse_unless(vae_config_set_int(c, VAE_OPT_SAMPLES, options.samples), "--samples");
  refuse_unless(vae_config_set_int(c, VAE_OPT_PRIOR_COMPONENTS, options.prior_components),
                "--prior-components");
  refuse_unless(vae_config_set_int(c, VAE_OPT_THREADS, options.threads), "--threads");
  refuse_unless(vae_config_set_int(c, VAE_OPT_MAX_BATCH, options.batch), "--batch");
  refuse_unless(vae_config_set_hidden_layers(c, options.hidden.empty() ? nullptr
                                                                        : options.hidden.data(),
                                             static_cast<std::int32_t>(options.hidden.size())),
                "--hidden");
}

// The label files go with the data files they label, and with a
// conditional model: --conditional, or a --resume whose checkpoint may be
// one (run_data.h checks that they are there when the model needs them).
void check_labels_flags(const Options& options) {
  if (options.was_given("--labels") && options.data == kFashionMnist) {
    throw UsageError("--labels: fashion-mnist comes with its own labels; --labels goes with "
                     "--data PATH");
  }
  if (options.was_given("--test-labels") && options.test_path.empty()) {
    throw UsageError("--test-labels goes with --test, the rows it labels");
  }
  for (const char* flag : {"--labels", "--test-labels"}) {
    if (options.was_given(flag) && !options.conditional && !options.resume) {
      throw UsageError(std::string(flag) + " applies only to --conditional");
    }
  }
}

void check_combinations(const Options& options) {
  check_library_ranges(options);
  if (options.likelihood != VAE_LIKELIHOOD_GAUSSIAN && !options.resume) {
    for (const char* flag : {"--variance", "--log-variance", "--min-log-variance"}) {
      if (options.was_given(flag)) {
        throw UsageError(std::string(flag) + " applies only to --likelihood gaussian");
      }
    }
  }
  check_labels_flags(options);
  if (options.resume) {
    if (options.out_dir.empty()) throw UsageError("--resume needs --out DIR, the run to continue");
    for (const char* flag : kModelFlags) {
      if (options.was_given(flag)) {
        throw UsageError(std::string(flag) +
                         " cannot be combined with --resume: the checkpoint fixes the model");
      }
    }
  }
}

}  // namespace

Options parse_options(int argc, const char* const* argv) {
  Options options;
  options.threads =
      std::clamp<std::int64_t>(std::thread::hardware_concurrency(), 1, kMaxDefaultThreads);
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--help" || argument == "-h") {
      options.help = true;
      return options;
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    const std::size_t equals = argument.find('=');
    const std::string flag = argument.substr(0, equals);
    if (flag.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + argument + "'");
    if (options.was_given(flag)) throw UsageError(flag + " given twice");
    options.given.insert(flag);
    if (flag == "--resume" || flag == "--conditional") {
      if (equals != std::string::npos) throw UsageError(flag + " takes no value");
      (flag == "--resume" ? options.resume : options.conditional) = true;
      continue;
    }
    const auto& flags = value_flags();
    const auto spec = std::find_if(flags.begin(), flags.end(), [&](const ValueFlag& candidate) {
      return flag == candidate.name;
    });
    if (spec == flags.end()) throw UsageError("unknown flag '" + flag + "'");
    std::string value;
    if (equals != std::string::npos) {
      value = argument.substr(equals + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError(flag + " needs a value");
    }
    spec->set(options, flag, value);
  }
  check_combinations(options);
  return options;
}

std::string help_text() {
  return R"(usage: vae-train [flags]

Trains a variational autoencoder with libvae, writing into the output directory:
  checkpoint.safetensors  the trainer after each epoch (resume from it with --resume)
  best.safetensors        with --patience: the checkpoint of the epoch of the best test ELBO
  metrics.csv             epoch,train_loss,test_elbo,test_reconstruction,test_kl,seconds
  loss.png                the train loss and the test ELBO per epoch, with their scales
  samples.png             an 8x8 grid of decoded draws z ~ p(z); --conditional: a row of 8
                          for each class, row k decoded under class k's condition
  reconstructions.png     test inputs, each beside its reconstruction decode(mu(x))
                          (--conditional: both under the input's own label)
  manifold.png            for a 2-D latent: decodes over a 20x20 grid of normal quantiles
                          (--conditional: under class 0's condition; each class has its own)

Data:
  --data fashion-mnist|PATH   fashion-mnist (default) reads the IDX files in
                              /usr/share/datasets/fashion-mnist (package dataset-fashion-mnist);
                              PATH is an IDX (uint8) or .npy (uint8 '|u1'/'<u1' or float32
                              '<f4', C order) file, raw or gzip; rows = first dimension
  --test PATH                 the test set; without it a PATH data set holds out its last
                              10% of rows as the test set
  --transform scale|binarize|dequantize
                              how byte data becomes [0, 1] values (default: binarize for
                              bernoulli, dequantize for gaussian)
  --labels PATH               with --conditional and --data PATH: the rows' class labels, an
                              IDX or .npy file of one uint8 a row (fashion-mnist's are the
                              train-labels and t10k-labels files beside its images)
  --test-labels PATH          with --conditional and --test PATH: the test rows' labels

Model (fixed by the checkpoint when resuming):
  --hidden W1,W2,...          encoder hidden widths, input side first; the decoder mirrors
                              them; "" for none (default 400)
  --latent Z                  latent dimension (default 20)
  --activation relu|tanh      (default relu)
  --likelihood bernoulli|gaussian  (default bernoulli)
  --variance fixed|shared|per-dim|decoder  Gaussian variance (default fixed; decoder:
                              predicted per dimension by the decoder)
  --log-variance V            the fixed or initial Gaussian log variance (default 0)
  --min-log-variance M        the lower bound of --variance decoder's log variance
                              (default -9)
  --samples K                 samples per data point, 1..4096 (default 1)
  --prior-components K        0: the prior N(0, I); K in 1..1024: a learned mixture of K
                              Gaussians, its KL the sampled one (default 0)
  --conditional               a conditional VAE, q(z|x,c) and p(x|z,c): each row's class
                              label, one-hot over C = the largest training label + 1
                              classes (10 for fashion-mnist), is its condition c; --resume
                              of such a run needs the labels again (--labels, --test-labels)
  --seed S                    (default 1)

Training (--batch, --lr, --lr-schedule, --lr-warmup, --lr-decay, --final-lr,
--clip-norm, --beta, --kl-warmup, --objective, --schedule, --transform and
--patience are kept with the run in DIR/training.txt: --resume continues with
the run's values, and refuses one given with another value):
  --epochs N                  total epochs, counting those already done (default 10)
  --batch B                   rows per step (default 128)
  --lr R                      Adam learning rate (default 1e-3)
  --lr-schedule constant|linear|cosine
                              after the warm-up, the rate decays from --lr to --final-lr
                              over --lr-decay steps (linearly or as a half cosine), then
                              stays there (default constant)
  --lr-warmup W               raise the rate linearly over the first W steps: step t
                              (from 0) uses lr * (t + 1) / W (default 0)
  --lr-decay D                the decay's steps (default: the run's steps after the
                              warm-up, --epochs times ceil(training rows / --batch), as the
                              run was first started: a resume to more --epochs keeps it)
  --final-lr R                the rate the decay ends at (default 0)
  --clip-norm C               clip each step's gradient to global norm C, as PyTorch's
                              clip_grad_norm_ (default 0: no clipping)
  --beta B                    KL weight (default 1)
  --kl-warmup E               raise the KL weight linearly over the first E epochs:
                              epoch e (from 0) uses beta * min(1, (e + 1) / E); 0 = off
  --objective elbo|iwae       (default elbo)
  --schedule joint|alternate  alternate: even epochs update the encoder only (E-step),
                              odd epochs the decoder only (M-step) (default joint)
  --patience N                stop once the test ELBO has not improved for N epochs in a
                              row, 1..1000000 (default: never); an epoch improves when its
                              ELBO is strictly above the best so far (a tie or NaN does
                              not); DIR/best.safetensors is the checkpoint of the best epoch
                              (the figures and pictures at the end are the last epoch's).
                              --resume counts on from metrics.csv's epochs; a run that
                              stopped early trains no further
  --backend cpu|cuda|auto     (default auto; not kept: a run may resume on another)
  --threads N                 CPU backend threads (default: the cores, at most 8; not kept)
  --ll-samples K              importance samples for the final test log-likelihood,
                              printed in nats (and in bits per dimension for dequantized
                              bytes), 0..100000 (default 1000; 0 skips it)
  --ll-rows N                 test rows for the final log-likelihood (default all)
  --gap-rows N                the first N test rows (default 100; 0 skips it) get the
                              inference gap: each row's q refined by Adam on its own ELBO,
                              the decoder fixed, splits log p(x) - ELBO into the
                              approximation and the amortization gap (needs --ll-samples)
  --gap-steps T               Adam steps of each refined q (default 100)
  At the end: diagnostics.json and latent_usage.png (the KL of each latent, the active
  units, I_q(x;z), the gaps) beside the table printed

Several processes (a vae-train built with MPI; docs/scaling.md):
  mpirun -np N vae-train ...  (or srun) trains one model on N ranks as one process would
                              train it: every rank reads the data and trains its part of
                              every batch (--batch is the whole batch); rank 0 alone
                              prints, evaluates, saves and draws; --threads defaults to
                              the cores over the ranks on the machine; on the GPU each
                              rank takes the GPU of its index on the machine (unless
                              CUDA_VISIBLE_DEVICES is set) and NCCL sums the steps

Run:
  --out DIR                   output directory (default runs/<YYYYmmdd-HHMMSS>)
  --resume                    continue the run in --out DIR from its checkpoint up to
                              --epochs in total, with the run's training choices,
                              adding to its metrics.csv (a row of an epoch after the
                              checkpoint's, left by a run killed between the two
                              writes, is dropped; a metrics.csv missing rows of the
                              checkpoint's epochs is refused)
  --help                      this text

Stopping (Ctrl-C, SIGTERM):
  The first signal stops the run before its next step and keeps the checkpoint
  of the last completed epoch, the one metrics.csv's last row evaluates: the
  steps of the epoch it stops are dropped (at most one epoch of work), so that
  --resume --out DIR (with the run's --data) continues exactly as the run would
  have gone on. A signal while an epoch is evaluated or saved lets that epoch
  complete; one in the final log-likelihood estimate stops it. vae-train then
  writes loss.png, says what the checkpoint holds, and exits 130 (SIGINT) or
  143 (SIGTERM); a second signal ends it at once. Under mpirun a signal to
  any rank stops every rank at the same step.
  Signal the ranks themselves (kill -TERM), since Open MPI's mpirun answers
  Ctrl-C by killing them about a second later (docs/scaling.md).

Exit status: 0 done, 1 a data, file or library error, 2 a bad command line or a
missing fashion-mnist, 130 / 143 stopped by SIGINT / SIGTERM.
)";
}

}  // namespace vae_app
