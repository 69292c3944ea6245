#include "trainer_snapshot.h"

#include <algorithm>
#include <cstring>

#include "fuzz_support.h"
#include "safetensors.h"
#include "usable_cpus.h"

namespace vae_fuzz {
namespace {

// Options 1..36 (VAE_OPT_CONDITION_DIM the last) and a few that do not
// exist: the getters' statuses count too.
constexpr int kFirstOption = -1;
constexpr int kLastOption = VAE_OPT_CONDITION_DIM + 1;

std::string getter_answers(vae_trainer* t, int option) {
  int64_t i = 0;
  double f = 0;
  const vae_status si = vae_get_int(t, option, &i);
  const vae_status sf = vae_get_float(t, option, &f);
  std::uint64_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  return std::to_string(si) + ":" + std::to_string(i) + " " + std::to_string(sf) + ":" +
         std::to_string(bits);
}

struct Checkpoint {
  std::map<std::string, std::string> metadata;        // configuration and counters
  std::map<std::string, std::vector<float>> tensors;  // parameters and moments
};

Checkpoint parse(const Bytes& bytes) {
  static MemoryFile file;
  file.assign(bytes.data(), bytes.size());
  vae::SafetensorsFile parsed = vae::read_safetensors(file.path());
  Checkpoint c;
  c.metadata = std::move(parsed.metadata);
  for (auto& [name, tensor] : parsed.tensors) c.tensors[name] = std::move(tensor.data);
  return c;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

template <class Map, class Same>
void add_differences(const Map& a, const Map& b, const std::string& prefix, Same same,
                     std::vector<std::string>& out) {
  for (const auto& [key, value] : a) {
    const auto it = b.find(key);
    if (it == b.end() || !same(value, it->second)) out.push_back(prefix + key);
  }
  for (const auto& entry : b) {
    if (a.find(entry.first) == a.end()) out.push_back(prefix + entry.first);
  }
}

}  // namespace

Snapshot take_snapshot(vae_trainer* t, const std::string& path) {
  if (vae_save(t, path.c_str()) != VAE_OK) {
    finding(std::string("vae_save of a live trainer failed: ") + vae_last_error());
  }
  Snapshot s;
  s.checkpoint = read_bytes(path);
  for (int option = kFirstOption; option <= kLastOption; ++option) {
    s.options[option] = getter_answers(t, option);
  }
  return s;
}

std::vector<std::string> differences(const Snapshot& before, const Snapshot& after) {
  std::vector<std::string> out;
  const auto equal = [](const auto& a, const auto& b) { return a == b; };
  if (before.checkpoint != after.checkpoint) {
    const Checkpoint a = parse(before.checkpoint), b = parse(after.checkpoint);
    // The data checksum follows the tensors, which are compared themselves.
    const auto metadata = [](Checkpoint c) {
      c.metadata.erase("libvae.data_crc32");
      return c.metadata;
    };
    add_differences(metadata(a), metadata(b), "", equal, out);
    add_differences(a.tensors, b.tensors, "", same_bits, out);
  }
  std::map<std::string, std::string> a, b;
  for (const auto& [option, text] : before.options) a[std::to_string(option)] = text;
  for (const auto& [option, text] : after.options) b[std::to_string(option)] = text;
  add_differences(a, b, "option ", equal, out);
  return out;
}

bool not_in_checkpoints(const std::string& name) {
  for (const int option :
       {VAE_OPT_SKIPPED_STEPS, VAE_OPT_RANK, VAE_OPT_WORLD_SIZE, VAE_OPT_GRAD_NORM}) {
    if (name == "option " + std::to_string(option)) return true;
  }
  return false;
}

namespace {

int64_t int_option(const Snapshot& s, int option) {
  const auto it = s.options.find(option);
  if (it == s.options.end()) finding("the snapshot has no option " + std::to_string(option));
  return std::stoll(it->second.substr(it->second.find(':') + 1));
}

}  // namespace

int64_t skipped_steps(const Snapshot& s) { return int_option(s, VAE_OPT_SKIPPED_STEPS); }

bool threads_lowered_by_load(const std::string& name, const Snapshot& saved,
                             const Snapshot& loaded) {
  if (name != "VAE_OPT_THREADS" && name != "option " + std::to_string(VAE_OPT_THREADS)) {
    return false;
  }
  const int64_t before = int_option(saved, VAE_OPT_THREADS);
  const int64_t after = int_option(loaded, VAE_OPT_THREADS);
  return after < before && after == std::min(before, vae::usable_cpus());
}

int64_t counter(const Snapshot& s, const std::string& key) {
  const Checkpoint c = parse(s.checkpoint);
  const auto it = c.metadata.find(key);
  if (it == c.metadata.end()) finding("the checkpoint has no " + key);
  return std::stoll(it->second);
}

}  // namespace vae_fuzz
