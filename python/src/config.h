// The extension's Config: a vae_config, used while a trainer is made.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <vae/vae.h>

#include "trainer_handle.h"

namespace libvae_ext {

// A vae_config. Its calls keep the GIL: they do no work, and the GIL is
// what lets one thread at a time use the object.
class Config {
 public:
  Config() {
    vae_config* c = nullptr;
    outcome_of(vae_config_create(&c)).check();
    config_.reset(c);
  }
  void set_int(vae_option option, int64_t value) {
    outcome_of(vae_config_set_int(config_.get(), option, value)).check();
  }
  void set_float(vae_option option, double value) {
    outcome_of(vae_config_set_float(config_.get(), option, value)).check();
  }
  void set_hidden_layers(const std::vector<int32_t>& widths) {
    const auto count = static_cast<int32_t>(
        std::min<size_t>(widths.size(), std::numeric_limits<int32_t>::max()));
    outcome_of(vae_config_set_hidden_layers(config_.get(), widths.data(), count)).check();
  }
  const vae_config* get() const { return config_.get(); }

 private:
  std::unique_ptr<vae_config, decltype(&vae_config_destroy)> config_{nullptr, &vae_config_destroy};
};

}  // namespace libvae_ext
