// Owning handles for libvae's objects and the check that turns a failed
// call into an exception.
#ifndef VAE_APPS_VAE_HANDLES_H
#define VAE_APPS_VAE_HANDLES_H

#include <vae/vae.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace vae_app {

// A libvae call failed; what() is "<call>: <status string>: <vae_last_error()>".
class LibraryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws LibraryError naming `call` unless status is VAE_OK.
void check(vae_status status, const std::string& call);

struct ConfigDestroyer {
  void operator()(vae_config* config) const { vae_config_destroy(config); }
};
struct TrainerDestroyer {
  void operator()(vae_trainer* trainer) const { vae_destroy(trainer); }
};
struct DatasetDestroyer {
  void operator()(vae_dataset* dataset) const { vae_dataset_destroy(dataset); }
};
using ConfigHandle = std::unique_ptr<vae_config, ConfigDestroyer>;
using TrainerHandle = std::unique_ptr<vae_trainer, TrainerDestroyer>;
// A dataset belongs to its trainer: destroy it first.
using DatasetHandle = std::unique_ptr<vae_dataset, DatasetDestroyer>;

// vae_get_int, checked; `name` is the option's name for the message.
std::int64_t get_int_option(const vae_trainer* trainer, int option, const char* name);

}  // namespace vae_app

#endif  // VAE_APPS_VAE_HANDLES_H
