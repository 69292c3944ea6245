#include "config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>

#include "error.h"
#include "number_text.h"

namespace vae {
namespace {

enum class Kind { kInt, kFloat };

// One row per option: its name, kind, allowed closed range (or half-open for
// floats where upper_open), whether it may change on a live trainer, and
// where it lives in Config.
struct OptionSpec {
  int option;
  const char* name;
  Kind kind;
  double lo, hi;
  bool lo_open, hi_open;
  bool live;
  int64_t Config::*int_member;
  double Config::*float_member;
  int Config::*enum_member;
};

constexpr double kMaxDim = 1 << 24;
// The schedule's step counts stay below 2^56, so they and the step counter
// (at most VAE_MAX_COUNTER) are exact in double.
constexpr double kMaxScheduleSteps = 72057594037927936.0;  // 2^56
// The most components of a learned prior (VAE_OPT_PRIOR_COMPONENTS).
constexpr double kMaxPriorComponents = 1024;

const OptionSpec kOptions[] = {
    {VAE_OPT_INPUT_DIM, "VAE_OPT_INPUT_DIM", Kind::kInt, 1, kMaxDim, false, false, false, &Config::input_dim, nullptr, nullptr},
    {VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM", Kind::kInt, 1, 65536, false, false, false, &Config::latent_dim, nullptr, nullptr},
    {VAE_OPT_MAX_BATCH, "VAE_OPT_MAX_BATCH", Kind::kInt, 1, 1 << 20, false, false, false, &Config::max_batch, nullptr, nullptr},
    {VAE_OPT_LIKELIHOOD, "VAE_OPT_LIKELIHOOD", Kind::kInt, 0, 1, false, false, false, nullptr, nullptr, &Config::likelihood},
    {VAE_OPT_VARIANCE, "VAE_OPT_VARIANCE", Kind::kInt, 0, 3, false, false, false, nullptr, nullptr, &Config::variance},
    {VAE_OPT_LOG_VARIANCE, "VAE_OPT_LOG_VARIANCE", Kind::kFloat, -30, 30, false, false, false, nullptr, &Config::log_variance, nullptr},
    {VAE_OPT_ACTIVATION, "VAE_OPT_ACTIVATION", Kind::kInt, 0, 1, false, false, false, nullptr, nullptr, &Config::activation},
    {VAE_OPT_BACKEND, "VAE_OPT_BACKEND", Kind::kInt, 0, 2, false, false, false, nullptr, nullptr, &Config::backend},
    {VAE_OPT_DEVICE, "VAE_OPT_DEVICE", Kind::kInt, 0, 1023, false, false, false, &Config::device, nullptr, nullptr},
    {VAE_OPT_SEED, "VAE_OPT_SEED", Kind::kInt, 0, 9.2e18, false, false, false, &Config::seed, nullptr, nullptr},
    {VAE_OPT_LEARNING_RATE, "VAE_OPT_LEARNING_RATE", Kind::kFloat, 0, 1e6, true, false, true, nullptr, &Config::learning_rate, nullptr},
    {VAE_OPT_ADAM_BETA1, "VAE_OPT_ADAM_BETA1", Kind::kFloat, 0, 1, false, true, true, nullptr, &Config::adam_beta1, nullptr},
    {VAE_OPT_ADAM_BETA2, "VAE_OPT_ADAM_BETA2", Kind::kFloat, 0, 1, false, true, true, nullptr, &Config::adam_beta2, nullptr},
    {VAE_OPT_ADAM_EPSILON, "VAE_OPT_ADAM_EPSILON", Kind::kFloat, 0, 1, true, false, true, nullptr, &Config::adam_epsilon, nullptr},
    {VAE_OPT_KL_WEIGHT, "VAE_OPT_KL_WEIGHT", Kind::kFloat, 0, 1e6, false, false, true, nullptr, &Config::kl_weight, nullptr},
    {VAE_OPT_SAMPLES, "VAE_OPT_SAMPLES", Kind::kInt, 1, 4096, false, false, false, &Config::samples, nullptr, nullptr},
    {VAE_OPT_OBJECTIVE, "VAE_OPT_OBJECTIVE", Kind::kInt, 0, 1, false, false, true, nullptr, nullptr, &Config::objective},
    {VAE_OPT_UPDATE, "VAE_OPT_UPDATE", Kind::kInt, 0, 2, false, false, true, nullptr, nullptr, &Config::update},
    {VAE_OPT_THREADS, "VAE_OPT_THREADS", Kind::kInt, 1, 256, false, false, true, &Config::threads, nullptr, nullptr},
    {VAE_OPT_TF32, "VAE_OPT_TF32", Kind::kInt, 0, 1, false, false, true, &Config::tf32, nullptr, nullptr},
    {VAE_OPT_EVAL_ROWS, "VAE_OPT_EVAL_ROWS", Kind::kInt, 0, 1 << 24, false, false, true, &Config::eval_rows, nullptr, nullptr},
    {VAE_OPT_LR_SCHEDULE, "VAE_OPT_LR_SCHEDULE", Kind::kInt, 0, 2, false, false, true, nullptr, nullptr, &Config::lr_schedule},
    {VAE_OPT_WARMUP_STEPS, "VAE_OPT_WARMUP_STEPS", Kind::kInt, 0, kMaxScheduleSteps, false, true, true, &Config::warmup_steps, nullptr, nullptr},
    {VAE_OPT_DECAY_STEPS, "VAE_OPT_DECAY_STEPS", Kind::kInt, 0, kMaxScheduleSteps, false, true, true, &Config::decay_steps, nullptr, nullptr},
    {VAE_OPT_FINAL_LEARNING_RATE, "VAE_OPT_FINAL_LEARNING_RATE", Kind::kFloat, 0, 1e6, false, false, true, nullptr, &Config::final_learning_rate, nullptr},
    {VAE_OPT_CLIP_NORM, "VAE_OPT_CLIP_NORM", Kind::kFloat, 0, 1e30, false, false, true, nullptr, &Config::clip_norm, nullptr},
    {VAE_OPT_PRIOR_COMPONENTS, "VAE_OPT_PRIOR_COMPONENTS", Kind::kInt, 0, kMaxPriorComponents, false, false, false, &Config::prior_components, nullptr, nullptr},
    {VAE_OPT_MIN_LOG_VARIANCE, "VAE_OPT_MIN_LOG_VARIANCE", Kind::kFloat, -30, 30, false, false, false, nullptr, &Config::min_log_variance, nullptr},
    {VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM", Kind::kInt, 0, 1 << 20, false, false, false, &Config::condition_dim, nullptr, nullptr},
};

// The most ranks: the counts the ranks sum in a shared step's tail stay
// exact in float with up to 4096 (kernels/shared_step.h).
constexpr double kMaxWorldSize = 4096;

// Where this process stands among the ranks: options of the run, not of the
// model, so checkpoints leave them out.
const OptionSpec kRunOptions[] = {
    {VAE_OPT_RANK, "VAE_OPT_RANK", Kind::kInt, 0, kMaxWorldSize - 1, false, false, true, &Config::rank, nullptr, nullptr},
    {VAE_OPT_WORLD_SIZE, "VAE_OPT_WORLD_SIZE", Kind::kInt, 1, kMaxWorldSize, false, false, true, &Config::world_size, nullptr, nullptr},
};

// Options that checkpoints written before the option existed lack: a file
// without one loads with the option's default (those of 0.1 lack the
// schedule and clipping: a constant rate, no clipping, as they trained).
bool optional_in_metadata(int option) {
  return option == VAE_OPT_EVAL_ROWS || option >= VAE_OPT_LR_SCHEDULE;
}

bool read_only(int option) {
  return option == VAE_OPT_STEPS || option == VAE_OPT_EPOCHS ||
         option == VAE_OPT_SKIPPED_STEPS || option == VAE_OPT_GRAD_NORM ||
         option == VAE_OPT_NEXT_LEARNING_RATE;
}

const OptionSpec& find_option(int option) {
  for (const OptionSpec& s : kOptions) {
    if (s.option == option) return s;
  }
  for (const OptionSpec& s : kRunOptions) {
    if (s.option == option) return s;
  }
  if (read_only(option)) invalid_argument(Config::read_only_message());
  MessageStream m;
  m << "option: unknown option " << option << " (the VAE_OPT_* values are 1.."
    << VAE_OPT_CONDITION_DIM << ")";
  invalid_argument(m.str());
}

std::string range_text(const OptionSpec& s) {
  MessageStream m;
  m.precision(12);
  m << (s.lo_open ? "(" : "[") << s.lo << ", " << s.hi << (s.hi_open ? ")" : "]");
  return m.str();
}

void check_range(const OptionSpec& s, double value) {
  const bool below = s.lo_open ? !(value > s.lo) : !(value >= s.lo);
  const bool above = s.hi_open ? !(value < s.hi) : !(value <= s.hi);
  if (below || above) {
    MessageStream m;
    m << "value: " << s.name << " must be in " << range_text(s) << ", got " << value;
    invalid_argument(m.str());
  }
}

void check_live(const OptionSpec& s, bool live) {
  if (live && !s.live) {
    invalid_argument(std::string("option: ") + s.name +
                     " fixes the model's structure and cannot change on a live trainer; "
                     "set it on the vae_config before vae_create");
  }
}

}  // namespace

bool Config::is_read_only(int option) { return read_only(option); }

const char* Config::read_only_message() {
  return "option: VAE_OPT_STEPS, VAE_OPT_EPOCHS, VAE_OPT_SKIPPED_STEPS, VAE_OPT_GRAD_NORM and "
         "VAE_OPT_NEXT_LEARNING_RATE are read-only values of a trainer (vae_get_int, "
         "vae_get_float)";
}

AdamSettings Config::adam_settings() const {
  AdamSettings a;
  a.learning_rate = learning_rate;
  a.beta1 = adam_beta1;
  a.beta2 = adam_beta2;
  a.epsilon = adam_epsilon;
  a.schedule = lr_schedule;
  a.warmup_steps = warmup_steps;
  a.decay_steps = decay_steps;
  a.final_learning_rate = final_learning_rate;
  a.clip_norm = clip_norm;
  return a;
}

int64_t Config::learned_log_variance_count() const {
  if (!gaussian()) return 0;
  if (variance == VAE_VARIANCE_LEARNED_SHARED) return 1;
  if (variance == VAE_VARIANCE_LEARNED_PER_DIM) return input_dim;
  return 0;
}

void Config::set_int(int option, int64_t value, bool live) {
  const OptionSpec& s = find_option(option);
  check_live(s, live);
  if (s.kind == Kind::kFloat) {
    set_float(option, static_cast<double>(value), live);
    return;
  }
  check_range(s, static_cast<double>(value));
  check_rank_fits(option, value);
  if (live) check_schedule_fits(option, value);
  if (s.int_member) this->*s.int_member = value;
  if (s.enum_member) this->*s.enum_member = static_cast<int>(value);
}

void Config::set_float(int option, double value, bool live) {
  const OptionSpec& s = find_option(option);
  check_live(s, live);
  if (s.kind == Kind::kInt) {
    if (!(std::isfinite(value) && value == std::floor(value))) {
      MessageStream m;
      m << "value: " << s.name << " takes an integer in " << range_text(s) << ", got " << value;
      invalid_argument(m.str());
    }
    // Every integer option's range lies within int64, so the conversion
    // after the range check is exact.
    check_range(s, value);
    set_int(option, static_cast<int64_t>(value), live);
    return;
  }
  if (!std::isfinite(value)) {
    invalid_argument(std::string("value: ") + s.name + " must be finite, in " + range_text(s));
  }
  check_range(s, value);
  this->*s.float_member = value;
}

int64_t Config::get_int(int option) const {
  const OptionSpec& s = find_option(option);
  if (s.int_member) return this->*s.int_member;
  if (s.enum_member) return this->*s.enum_member;
  // A real option reads truncated where int64 holds it; VAE_OPT_CLIP_NORM
  // goes to 1e30, whose conversion would be undefined.
  const double value = this->*s.float_member;
  if (!(std::fabs(value) < 9223372036854775808.0)) {  // 2^63
    MessageStream m;
    m << "option: " << s.name << " is " << value << ", beyond int64: read it with vae_get_float";
    invalid_argument(m.str());
  }
  return static_cast<int64_t>(value);
}

double Config::get_float(int option) const {
  const OptionSpec& s = find_option(option);
  if (s.float_member) return this->*s.float_member;
  return static_cast<double>(get_int(option));
}

// The rank stays below the world size, whichever of the two changes.
void Config::check_rank_fits(int option, int64_t value) const {
  if (option == VAE_OPT_RANK && value >= world_size) {
    MessageStream m;
    m << "value: VAE_OPT_RANK must be below VAE_OPT_WORLD_SIZE (" << world_size << "), got "
      << value << "; set VAE_OPT_WORLD_SIZE first";
    invalid_argument(m.str());
  }
  if (option == VAE_OPT_WORLD_SIZE && value <= rank) {
    MessageStream m;
    m << "value: VAE_OPT_WORLD_SIZE must exceed VAE_OPT_RANK (" << rank << "), got " << value
      << "; lower VAE_OPT_RANK first";
    invalid_argument(m.str());
  }
}

// A decaying schedule has steps to decay over, whichever of the two
// changes (on a config, vae_create checks the pair: validate).
void Config::check_schedule_fits(int option, int64_t value) const {
  const bool decays = (option == VAE_OPT_LR_SCHEDULE ? value : lr_schedule) != VAE_SCHEDULE_CONSTANT;
  const int64_t steps = option == VAE_OPT_DECAY_STEPS ? value : decay_steps;
  if (decays && steps == 0) {
    invalid_argument(option == VAE_OPT_DECAY_STEPS
                         ? "value: VAE_OPT_DECAY_STEPS must be at least 1 while VAE_OPT_LR_SCHEDULE "
                           "decays the rate (LINEAR or COSINE); set VAE_SCHEDULE_CONSTANT first"
                         : "value: VAE_OPT_LR_SCHEDULE LINEAR and COSINE decay over "
                           "VAE_OPT_DECAY_STEPS steps, which is 0; set VAE_OPT_DECAY_STEPS first");
  }
}

void Config::set_hidden_layers(const int32_t* widths, int32_t count) {
  if (count < 0 || count > VAE_MAX_HIDDEN_LAYERS) {
    MessageStream m;
    m << "count: the number of hidden layers must be in [0, " << VAE_MAX_HIDDEN_LAYERS
      << "], got " << count;
    invalid_argument(m.str());
  }
  if (count > 0 && widths == nullptr) invalid_argument("widths: NULL with count > 0");
  std::vector<int64_t> w(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {
    if (widths[i] < 1 || widths[i] > 65536) {
      MessageStream m;
      m << "widths[" << i << "]: a hidden width must be in [1, 65536], got " << widths[i];
      invalid_argument(m.str());
    }
    w[static_cast<size_t>(i)] = widths[i];
  }
  hidden = std::move(w);
}

void Config::validate() const {
  for (const OptionSpec& s : kOptions) check_range(s, get_float(s.option));
  for (const OptionSpec& s : kRunOptions) check_range(s, get_float(s.option));
  check_rank_fits(VAE_OPT_RANK, rank);
  check_schedule_fits(VAE_OPT_LR_SCHEDULE, lr_schedule);
  if (!gaussian() && variance != VAE_VARIANCE_FIXED) {
    invalid_argument(
        "VAE_OPT_VARIANCE: a learned variance needs VAE_OPT_LIKELIHOOD = "
        "VAE_LIKELIHOOD_GAUSSIAN");
  }
  if (variance == VAE_VARIANCE_DECODER && !(log_variance > min_log_variance)) {
    MessageStream m;
    m << "VAE_OPT_LOG_VARIANCE: the initial log variance of VAE_VARIANCE_DECODER must exceed "
         "VAE_OPT_MIN_LOG_VARIANCE = "
      << min_log_variance << ", got " << log_variance;
    invalid_argument(m.str());
  }
  // The decoder works on max_batch * samples rows at once; keep every buffer
  // index within int32 range for the BLAS and CUDA calls.
  const double elements = static_cast<double>(max_batch) * static_cast<double>(samples) *
                          static_cast<double>(widest());
  if (elements > 2147483647.0) {
    MessageStream m;
    m << "VAE_OPT_MAX_BATCH: max_batch * samples * widest layer = " << elements
      << " exceeds 2^31 - 1 elements; lower the batch or the samples";
    invalid_argument(m.str());
  }
  // A step keeps each decoder row's responsibilities (max_batch * samples * K).
  const double responsibilities = static_cast<double>(max_batch) * static_cast<double>(samples) *
                                  static_cast<double>(prior_components);
  if (responsibilities > 2147483647.0) {
    MessageStream m;
    m << "VAE_OPT_PRIOR_COMPONENTS: max_batch * samples * components = " << responsibilities
      << " exceeds 2^31 - 1 elements; lower the batch, the samples or the components";
    invalid_argument(m.str());
  }
}

std::map<std::string, std::string> Config::to_metadata() const {
  std::map<std::string, std::string> m;
  for (const OptionSpec& s : kOptions) {
    m[s.name] = s.kind == Kind::kFloat ? number_text(get_float(s.option))
                                       : number_text(get_int(s.option));
  }
  std::string h;
  for (size_t i = 0; i < hidden.size(); ++i) h += (i ? "," : "") + number_text(hidden[i]);
  m["hidden_layers"] = h;
  return m;
}

int64_t Config::widest() const {
  int64_t w = std::max({output_width(), 2 * latent_dim, input_dim + condition_dim,
                        latent_dim + condition_dim});
  for (int64_t h : hidden) w = std::max(w, h);
  return w;
}

Config Config::from_metadata(const std::map<std::string, std::string>& metadata) {
  Config c;
  for (const OptionSpec& s : kOptions) {
    const auto it = metadata.find(s.name);
    if (it == metadata.end()) {
      if (optional_in_metadata(s.option)) continue;
      fail(VAE_ERROR_FORMAT, std::string("checkpoint metadata lacks ") + s.name);
    }
    // Integers are read as integers, so that a seed past 2^53 comes back exact.
    const std::optional<int64_t> integer =
        s.kind == Kind::kInt ? parse_number<int64_t>(it->second) : std::nullopt;
    const std::optional<double> number =
        s.kind == Kind::kFloat ? parse_number<double>(it->second) : std::nullopt;
    if (!integer && !number) {
      fail(VAE_ERROR_FORMAT, std::string("checkpoint metadata ") + s.name + " is not " +
                                 (s.kind == Kind::kInt ? "an integer" : "a number") + ": '" +
                                 it->second + "'");
    }
    try {
      if (integer) {
        c.set_int(s.option, *integer, false);
      } else {
        c.set_float(s.option, *number, false);
      }
    } catch (const Error& e) {
      fail(VAE_ERROR_FORMAT, std::string("checkpoint metadata: ") + e.what());
    }
  }
  const auto it = metadata.find("hidden_layers");
  if (it == metadata.end()) fail(VAE_ERROR_FORMAT, "checkpoint metadata lacks hidden_layers");
  // Widths separated by commas; an empty list is no hidden layer.
  const std::string_view text = it->second;
  std::vector<int32_t> widths;
  for (size_t begin = 0; !text.empty() && begin <= text.size();) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    const std::optional<int64_t> width = parse_number<int64_t>(text.substr(begin, comma - begin));
    if (!width || *width < 1 || *width > 65536 || widths.size() >= VAE_MAX_HIDDEN_LAYERS) {
      fail(VAE_ERROR_FORMAT, "checkpoint metadata hidden_layers is malformed: '" + it->second + "'");
    }
    widths.push_back(static_cast<int32_t>(*width));
    begin = comma + 1;
  }
  c.set_hidden_layers(widths.data(), static_cast<int32_t>(widths.size()));
  try {
    c.validate();
  } catch (const Error& e) {
    fail(VAE_ERROR_FORMAT, std::string("checkpoint metadata: ") + e.what());
  }
  return c;
}

}  // namespace vae
