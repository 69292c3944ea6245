#include "run_choices.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "data_file_error.h"
#include "regular_file.h"
#include "text_file.h"

namespace vae_app {
namespace {

// The choices, each by its flag, as text: what the file holds.
std::map<std::string, std::string> choices_of(const Options& o) {
  const auto real = [](double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::string(text);
  };
  const auto transform = [](const std::optional<int>& t) -> std::string {
    if (!t) return "default";
    return *t == VAE_BYTES_SCALE ? "scale" : *t == VAE_BYTES_BINARIZE ? "binarize" : "dequantize";
  };
  return {
      {"--batch", std::to_string(o.batch)},
      {"--lr", real(o.learning_rate)},
      {"--beta", real(o.beta)},
      {"--kl-warmup", std::to_string(o.kl_warmup)},
      {"--objective", o.objective == VAE_OBJECTIVE_IWAE ? "iwae" : "elbo"},
      {"--schedule", o.schedule == Schedule::alternate ? "alternate" : "joint"},
      {"--transform", transform(o.transform)},
      {"--patience", o.patience ? std::to_string(*o.patience) : "none"},
      {"--lr-schedule", o.lr_schedule == VAE_SCHEDULE_LINEAR   ? "linear"
                        : o.lr_schedule == VAE_SCHEDULE_COSINE ? "cosine"
                                                               : "constant"},
      {"--lr-warmup", std::to_string(o.lr_warmup)},
      {"--lr-decay", o.lr_decay ? std::to_string(*o.lr_decay) : "run"},
      {"--final-lr", real(o.final_lr)},
      {"--clip-norm", real(o.clip_norm)},
  };
}

// Choices added after training.txt began, each with the value of the runs
// whose file lacks it: a run of an older vae-train had no early stopping.
const std::map<std::string, std::string>& later_choices() {
  static const std::map<std::string, std::string> later{
      {"--patience", "none"},    {"--lr-schedule", "constant"}, {"--lr-warmup", "0"},
      {"--lr-decay", "run"},     {"--final-lr", "0"},           {"--clip-norm", "0"}};
  return later;
}

// Parses a value the file holds for `flag` into o.
void adopt(const std::string& path, const std::string& flag, const std::string& text, Options* o) {
  const auto bad = [&] {
    throw DataFileError(path, flag + "=" + text + " is not a value it takes");
  };
  const auto integer = [&] {
    std::int64_t v = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) bad();
    return v;
  };
  const auto real = [&] {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || errno != 0 || *end != '\0' || !std::isfinite(v)) bad();
    return v;
  };
  if (flag == "--batch") {
    o->batch = integer();
  } else if (flag == "--lr") {
    o->learning_rate = real();
  } else if (flag == "--beta") {
    o->beta = real();
  } else if (flag == "--kl-warmup") {
    o->kl_warmup = integer();
  } else if (flag == "--objective") {
    if (text != "elbo" && text != "iwae") bad();
    o->objective = text == "iwae" ? VAE_OBJECTIVE_IWAE : VAE_OBJECTIVE_ELBO;
  } else if (flag == "--schedule") {
    if (text != "joint" && text != "alternate") bad();
    o->schedule = text == "alternate" ? Schedule::alternate : Schedule::joint;
  } else if (flag == "--transform") {
    if (text == "default") {
      o->transform.reset();
    } else if (text == "scale" || text == "binarize" || text == "dequantize") {
      o->transform = text == "scale"      ? VAE_BYTES_SCALE
                     : text == "binarize" ? VAE_BYTES_BINARIZE
                                          : VAE_BYTES_DEQUANTIZE;
    } else {
      bad();
    }
  } else if (flag == "--lr-schedule") {
    if (text != "constant" && text != "linear" && text != "cosine") bad();
    o->lr_schedule = text == "linear"   ? VAE_SCHEDULE_LINEAR
                     : text == "cosine" ? VAE_SCHEDULE_COSINE
                                        : VAE_SCHEDULE_CONSTANT;
  } else if (flag == "--lr-warmup") {
    o->lr_warmup = integer();
    if (o->lr_warmup < 0) bad();
  } else if (flag == "--lr-decay") {
    if (text == "run") {
      o->lr_decay.reset();
    } else {
      o->lr_decay = integer();
      if (*o->lr_decay < 1) bad();
    }
  } else if (flag == "--final-lr") {
    o->final_lr = real();
    if (o->final_lr < 0) bad();
  } else if (flag == "--clip-norm") {
    o->clip_norm = real();
    if (o->clip_norm < 0) bad();
  } else if (flag == "--patience") {
    if (text == "none") {
      o->patience.reset();
    } else {
      o->patience = integer();
      if (*o->patience < 1) bad();
    }
  } else {
    throw DataFileError(path, "unknown choice '" + flag + "'");
  }
}

}  // namespace

void write_training_choices(const std::string& path, const Options& options) {
  std::string text =
      "# vae-train: the training choices of this run; --resume continues with them\n";
  for (const auto& [flag, value] : choices_of(options)) text += flag + "=" + value + "\n";
  write_text_file(path, text);
}

std::optional<Options> resume_training_choices(const std::string& path, const Options& given) {
  const InputFile file = open_regular_file(path, true);
  if (!file) return std::nullopt;
  std::string text;
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) {
    text.append(buffer, got);
  }
  if (std::ferror(file.get())) throw DataFileError(path, "read error");
  Options run = given;
  std::map<std::string, std::string> stored;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t equals = line.find('=');
    if (equals == std::string::npos) throw DataFileError(path, "'" + line + "' is not FLAG=VALUE");
    const std::string flag = line.substr(0, equals);
    if (stored.count(flag) != 0) throw DataFileError(path, flag + " is given twice");
    stored[flag] = line.substr(equals + 1);
    adopt(path, flag, stored[flag], &run);
  }
  for (const auto& [flag, value] : later_choices()) {
    if (stored.count(flag) == 0) {
      stored[flag] = value;
      adopt(path, flag, value, &run);
    }
  }
  if (stored.size() != choices_of(run).size()) {
    throw DataFileError(path, "holds " + std::to_string(stored.size()) + " of the " +
                                  std::to_string(choices_of(run).size()) + " choices of a run");
  }
  // A flag given on the resume must say what the run did.
  const std::map<std::string, std::string> asked = choices_of(given);
  for (const auto& [flag, value] : choices_of(run)) {
    if (given.was_given(flag) && asked.at(flag) != value) {
      throw UsageError(flag + " " + asked.at(flag) + " contradicts the run's " + flag + " " +
                       value + " (" + path + "); --resume continues the run as it was");
    }
  }
  return run;
}

}  // namespace vae_app
