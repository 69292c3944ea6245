// The PNG pictures vae-train draws with a trained model.
#ifndef VAE_APPS_PICTURES_H
#define VAE_APPS_PICTURES_H

#include <vae/vae.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data_matrix.h"
#include "image_grid.h"

namespace vae_app {

// Every picture says in its top-left corner what it shows, the model
// (model_description) and the epoch the trainer is at.
//
// "784-400-20 bernoulli, elbo": the layer widths when `hidden` (the run's
// --hidden) is the trainer's, which its parameter count tells; else the
// input and latent widths and the parameter count (a resumed checkpoint
// with other hidden layers).
std::string model_description(const vae_trainer* trainer, const std::vector<std::int32_t>& hidden);

// The pictures of data points map `gray` (the data's range) to black..white.

// An 8x8 grid of decoded draws z ~ p(z) (vae_sample_rows); for a
// conditional model a row of 8 for each class (of the first 32): row k
// decodes its draws under class k's one-hot condition.
void write_samples_png(vae_trainer* trainer, const GrayRange& gray, const std::string& model,
                       const std::string& path);

// Up to 32 test rows, each beside its reconstruction decode(mu(x)); for a
// conditional model under the row's own label's condition (test's labels).
void write_reconstructions_png(vae_trainer* trainer, const DataMatrix& test, const GrayRange& gray,
                               const std::string& model, const std::string& path);

// For a 2-D latent: decodes of a 20x20 grid of z whose coordinates are the
// standard normal quantiles of 0.05 ... 0.95; z1 grows rightwards, z2 upwards.
// A conditional model's manifold is each class's own: it draws class 0's.
void write_manifold_png(vae_trainer* trainer, const GrayRange& gray, const std::string& model,
                        const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_PICTURES_H
