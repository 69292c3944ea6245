// The extension's Dataset: a vae_dataset that keeps its trainer alive.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include <vae/vae.h>

#include "trainer_handle.h"

namespace libvae_ext {

// A vae_dataset. It keeps its trainer alive, since the C API destroys a
// dataset before its trainer. Destroying one frees only its own memory (the
// CUDA backend captures its graphs thread-locally), so it needs no hold on the
// trainer, which another thread may be using.
class Dataset {
 public:
  using Ptr = std::unique_ptr<vae_dataset, decltype(&vae_dataset_destroy)>;
  Dataset(std::shared_ptr<TrainerHandle> trainer, Ptr dataset, int64_t rows)
      : trainer_(std::move(trainer)), dataset_(std::move(dataset)), rows_(rows) {}
  vae_dataset* get() const { return dataset_.get(); }
  int64_t rows() const { return rows_; }

 private:
  std::shared_ptr<TrainerHandle> trainer_;  // declared first: destroyed after dataset_
  Ptr dataset_;
  int64_t rows_;
};

}  // namespace libvae_ext
