#include "checkpoint.h"

#include <sstream>

#include "error.h"
#include "parameter_layout.h"
#include "safetensors.h"
#include "trainer.h"

namespace vae {
namespace {

constexpr const char* kFormatKey = "libvae.format";
constexpr const char* kFormat = "libvae-checkpoint-1";

struct CounterField {
  const char* key;
  int64_t Counters::*member;
};

const CounterField kCounterFields[] = {
    {"libvae.steps", &Counters::steps},
    {"libvae.encoder_steps", &Counters::encoder_steps},
    {"libvae.decoder_steps", &Counters::decoder_steps},
    {"libvae.epochs", &Counters::epochs},
    {"libvae.draws", &Counters::draws},
};

// The three state buffers and the prefixes of their tensor names.
struct BufferName {
  StateBuffer buffer;
  const char* prefix;
};

const BufferName kBuffers[] = {
    {StateBuffer::kParameters, ""},
    {StateBuffer::kAdamFirstMoment, "optimizer.exp_avg."},
    {StateBuffer::kAdamSecondMoment, "optimizer.exp_avg_sq."},
};

int64_t parse_counter(const std::map<std::string, std::string>& metadata, const char* key) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) fail(VAE_ERROR_FORMAT, std::string("checkpoint metadata lacks ") + key);
  std::istringstream in(it->second);
  int64_t value = -1;
  if (!(in >> value) || !in.eof() || value < 0) {
    fail(VAE_ERROR_FORMAT,
         std::string("checkpoint metadata ") + key + " is not a count: '" + it->second + "'");
  }
  check_loaded_counter(key, value);
  return value;
}

}  // namespace

void save_checkpoint(const Trainer& trainer, const std::string& path) {
  SafetensorsFile file;
  file.metadata = trainer.config().to_metadata();
  file.metadata[kFormatKey] = kFormat;
  for (const CounterField& f : kCounterFields) {
    file.metadata[f.key] = std::to_string(trainer.counters().*f.member);
  }
  const ParameterLayout layout(trainer.config());
  for (const BufferName& b : kBuffers) {
    const std::vector<float> values = trainer.read_state(b.buffer);
    for (const NamedTensor& t : layout.tensors()) {
      Tensor& out = file.tensors[b.prefix + t.name];
      out.shape = t.shape;
      out.data.assign(values.begin() + static_cast<std::ptrdiff_t>(t.offset),
                      values.begin() + static_cast<std::ptrdiff_t>(t.offset + t.count));
    }
  }
  write_safetensors(path, file);
}

std::unique_ptr<Trainer> load_checkpoint(const std::string& path, int backend) {
  const SafetensorsFile file = read_safetensors(path);
  const auto format = file.metadata.find(kFormatKey);
  if (format == file.metadata.end() || format->second != kFormat) {
    fail(VAE_ERROR_FORMAT, path + ": not a libvae checkpoint (metadata " + kFormatKey +
                               " is not '" + kFormat + "')");
  }
  Config config = Config::from_metadata(file.metadata);
  config.backend = backend;
  Counters counters;
  for (const CounterField& f : kCounterFields) counters.*f.member = parse_counter(file.metadata, f.key);

  const ParameterLayout layout(config);
  const std::vector<NamedTensor> names = layout.tensors();
  if (file.tensors.size() != names.size() * 3) {
    std::ostringstream m;
    m << path << ": the checkpoint has " << file.tensors.size() << " tensors, the model it "
      << "describes needs " << names.size() * 3;
    fail(VAE_ERROR_FORMAT, m.str());
  }
  std::unique_ptr<Trainer> trainer = Trainer::create(config);
  for (const BufferName& b : kBuffers) {
    std::vector<float> values(layout.total);
    for (const NamedTensor& t : names) {
      const std::string name = b.prefix + t.name;
      const auto it = file.tensors.find(name);
      if (it == file.tensors.end()) fail(VAE_ERROR_FORMAT, path + ": tensor " + name + " is missing");
      if (it->second.shape != t.shape) fail(VAE_ERROR_FORMAT, path + ": tensor " + name + " has the wrong shape");
      std::copy(it->second.data.begin(), it->second.data.end(),
                values.begin() + static_cast<std::ptrdiff_t>(t.offset));
    }
    trainer->write_state(b.buffer, values);
  }
  trainer->mutable_counters() = counters;
  return trainer;
}

}  // namespace vae
