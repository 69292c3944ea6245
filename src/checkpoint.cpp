#include "checkpoint.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "error.h"
#include "number_text.h"
#include "parameter_layout.h"
#include "safetensors.h"
#include "trainer.h"
#include "usable_cpus.h"

namespace vae {
namespace {

constexpr const char* kFormatKey = "libvae.format";
constexpr const char* kFormat = "libvae-checkpoint-1";
// zlib's CRC-32 of the data section, as 8 lowercase hexadecimal digits.
constexpr const char* kChecksumKey = "libvae.data_crc32";

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
  const std::optional<int64_t> value = parse_number<int64_t>(it->second);
  if (!value || *value < 0) {
    fail(VAE_ERROR_FORMAT,
         std::string("checkpoint metadata ") + key + " is not a count: '" + it->second + "'");
  }
  check_loaded_counter(key, *value);
  return *value;
}

// A CRC-32 as the metadata holds it: 8 lowercase hexadecimal digits.
std::string crc_text(uint32_t crc) {
  static const char kHex[] = "0123456789abcdef";
  std::string text(8, '0');
  for (int i = 7; i >= 0; --i, crc >>= 4) text[static_cast<size_t>(i)] = kHex[crc & 0xF];
  return text;
}

// A checkpoint without the checksum (an older version's, or one rewritten by
// another safetensors writer) is read without it: vae.h says why.
void check_data_checksum(const std::string& path, const SafetensorsFile& file) {
  const auto it = file.metadata.find(kChecksumKey);
  if (it == file.metadata.end()) return;
  const std::string& stored = it->second;
  uint32_t crc = 0;
  const char* const last = stored.data() + stored.size();
  const auto [end, error] = std::from_chars(stored.data(), last, crc, 16);
  if (stored.size() != 8 || error != std::errc() || end != last) {
    fail(VAE_ERROR_FORMAT, path + ": metadata " + kChecksumKey + " is not 8 hexadecimal digits: '" +
                               stored + "'");
  }
  if (crc != file.data_crc32) {
    fail(VAE_ERROR_FORMAT, path + ": checksum mismatch: the data section's CRC-32 is " +
                               crc_text(file.data_crc32) + " but the metadata " + kChecksumKey +
                               " says " + stored + "; the file is damaged");
  }
}

// The tensor of the checkpoint named `name`, checked: present and of the
// shape the configuration gives it (its values are not read yet).
const Tensor& checked_shape(const std::string& path, const SafetensorsFile& file,
                            const std::string& name, const NamedTensor& expected) {
  const auto it = file.tensors.find(name);
  if (it == file.tensors.end()) fail(VAE_ERROR_FORMAT, path + ": tensor " + name + " is missing");
  const Tensor& tensor = it->second;
  if (tensor.shape != expected.shape) {
    fail(VAE_ERROR_FORMAT, path + ": tensor " + name + " has the wrong shape for the model the " +
                               "metadata describes");
  }
  return tensor;
}

// Refuses a tensor holding a value its buffer may not hold.
void check_values(const std::string& path, const std::string& name, const Tensor& tensor,
                  StateBuffer buffer) {
  for (size_t e = 0; e < tensor.data.size(); ++e) {
    if (const char* problem = state_value_problem(buffer, tensor.data[e])) {
      fail(VAE_ERROR_FORMAT, path + ": tensor " + name + " element " + std::to_string(e) + " " +
                                 problem + " (" + number_text(tensor.data[e]) + ")");
    }
  }
}

// Refuses to save what load_checkpoint would refuse to load (VAE_ERROR_
// INTERNAL: the trainer keeps its state finite and its counters in range, so
// only a fault, or memory the caller's code overwrote, gets here): a counter
// outside [0, kMaxCounter], a value check_values would refuse.
void check_savable(const std::string& path, const SafetensorsFile& file) {
  const auto refuse = [&path](const std::string& what) {
    fail(VAE_ERROR_INTERNAL, "cannot save " + path + ": " + what +
                                 ", which vae_load would refuse; nothing was written");
  };
  for (const CounterField& f : kCounterFields) {
    try {
      check_loaded_counter(f.key, parse_counter(file.metadata, f.key));
    } catch (const Error& e) {
      refuse(e.what());
    }
  }
  for (const BufferName& b : kBuffers) {
    for (const auto& [name, tensor] : file.tensors) {
      if (name.rfind(b.prefix, 0) != 0) continue;
      for (size_t e = 0; e < tensor.data.size(); ++e) {
        if (const char* problem = state_value_problem(b.buffer, tensor.data[e])) {
          refuse("tensor " + name + " element " + std::to_string(e) + " " + problem + " (" +
                 number_text(tensor.data[e]) + ")");
        }
      }
    }
  }
}

}  // namespace

void save_checkpoint(const Trainer& trainer, const std::string& path) {
  SafetensorsFile file;
  file.metadata = trainer.config().to_metadata();
  file.metadata[kFormatKey] = kFormat;
  const Counters counters = trainer.counters();
  for (const CounterField& f : kCounterFields) {
    file.metadata[f.key] = std::to_string(counters.*f.member);
  }
  const ParameterLayout layout(trainer.config());
  for (const BufferName& b : kBuffers) {
    const std::vector<float> values = trainer.read_state(b.buffer);
    for (const NamedTensor& t : layout.tensors()) {
      Tensor& out = file.tensors[b.prefix + t.name];
      out.shape = t.shape;
      out.data.assign(values.begin() + static_cast<std::ptrdiff_t>(t.packed_offset),
                      values.begin() + static_cast<std::ptrdiff_t>(t.packed_offset + t.count));
    }
  }
  check_savable(path, file);
  file.metadata[kChecksumKey] = crc_text(data_section_crc32(file));
  write_safetensors(path, file);
}

std::unique_ptr<Trainer> load_checkpoint(const std::string& path, const LoadChoices& choices) {
  // The header first: the model it describes is checked before any of the
  // data is read, and then exactly the data it describes is read.
  SafetensorsReader reader(path);
  const SafetensorsFile& head = reader.header();
  const auto format = head.metadata.find(kFormatKey);
  if (format == head.metadata.end() || format->second != kFormat) {
    fail(VAE_ERROR_FORMAT, path + ": not a libvae checkpoint (metadata " + kFormatKey +
                               " is not '" + kFormat + "')");
  }
  Config config = Config::from_metadata(head.metadata);
  // The file's thread count, up to the CPUs this process may use: a file
  // does not command more threads than the machine can run (vae.h).
  config.threads = std::min(config.threads, usable_cpus());
  for (const auto& [option, value] : choices) config.set_int(option, value, false);
  Counters counters;
  for (const CounterField& f : kCounterFields) counters.*f.member = parse_counter(head.metadata, f.key);

  // Every tensor is checked against the model the metadata describes before
  // that model, whose size the metadata alone sets, is allocated.
  const ParameterLayout layout(config);
  const std::vector<NamedTensor> names = layout.tensors();
  if (head.tensors.size() != names.size() * 3) {
    fail(VAE_ERROR_FORMAT, path + ": the checkpoint has " + std::to_string(head.tensors.size()) +
                               " tensors, the model it describes needs " +
                               std::to_string(names.size() * 3));
  }
  for (const BufferName& b : kBuffers) {
    for (const NamedTensor& t : names) checked_shape(path, head, b.prefix + t.name, t);
  }
  const SafetensorsFile file = reader.read_data();
  check_data_checksum(path, file);
  for (const BufferName& b : kBuffers) {
    for (const NamedTensor& t : names) {
      check_values(path, b.prefix + t.name, file.tensors.at(b.prefix + t.name), b.buffer);
    }
  }

  std::unique_ptr<Trainer> trainer = Trainer::create(config);
  for (const BufferName& b : kBuffers) {
    std::vector<float> values(layout.packed_total);
    for (const NamedTensor& t : names) {
      const Tensor& tensor = file.tensors.at(b.prefix + t.name);
      std::copy(tensor.data.begin(), tensor.data.end(),
                values.begin() + static_cast<std::ptrdiff_t>(t.packed_offset));
    }
    trainer->write_state(b.buffer, values);
  }
  trainer->set_counters(counters);
  return trainer;
}

}  // namespace vae
