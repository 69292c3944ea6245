// A VAE without hidden layers, whose encoder and decoder are affine maps one
// can reason about: [mu | logvar] = A x + a, decoder mean V z + c, Gaussian
// with a fixed log variance. Its parameters in the flat PyTorch layout
// (encoder.0.weight [2Z, D], encoder.0.bias, decoder.0.weight [D, Z],
// decoder.0.bias), and a C-API trainer of it on a chosen backend.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "vae/vae.h"

namespace vae::testing {

struct LinearVae {
  int64_t dim = 0, latent = 0;
  double log_variance = 0;              // the decoder's fixed log variance
  std::vector<double> enc_w, enc_b;     // [2Z, D], [2Z]: rows 0..Z-1 mu, Z..2Z-1 logvar
  std::vector<double> dec_w, dec_b;     // [D, Z], [D]

  LinearVae(int64_t d, int64_t z)
      : dim(d), latent(z), enc_w(static_cast<size_t>(2 * z * d)), enc_b(static_cast<size_t>(2 * z)),
        dec_w(static_cast<size_t>(d * z)), dec_b(static_cast<size_t>(d)) {}

  double& mu_weight(int64_t u, int64_t d) { return enc_w[static_cast<size_t>(u * dim + d)]; }
  double& logvar_weight(int64_t u, int64_t d) {
    return enc_w[static_cast<size_t>((latent + u) * dim + d)];
  }
  double& mu_bias(int64_t u) { return enc_b[static_cast<size_t>(u)]; }
  double& logvar_bias(int64_t u) { return enc_b[static_cast<size_t>(latent + u)]; }
  double& decoder_weight(int64_t d, int64_t u) {
    return dec_w[static_cast<size_t>(d * latent + u)];
  }

  // The encoder's output j (0..2Z-1) for row x, in double.
  double encoder_output(const float* x, int64_t j) const {
    double s = enc_b[static_cast<size_t>(j)];
    for (int64_t d = 0; d < dim; ++d) s += enc_w[static_cast<size_t>(j * dim + d)] * x[d];
    return s;
  }

  std::vector<float> packed() const {
    std::vector<float> p;
    for (const auto* t : {&enc_w, &enc_b, &dec_w, &dec_b}) p.insert(p.end(), t->begin(), t->end());
    return p;
  }

  // A trainer of this model on `backend` (VAE_BACKEND_*), or null (a test
  // failure) where it cannot be made.
  vae_trainer* make(int backend) const {
    vae_config* c = nullptr;
    EXPECT_EQ(vae_config_create(&c), VAE_OK);
    EXPECT_EQ(vae_config_set_int(c, VAE_OPT_INPUT_DIM, dim), VAE_OK);
    EXPECT_EQ(vae_config_set_int(c, VAE_OPT_LATENT_DIM, latent), VAE_OK);
    EXPECT_EQ(vae_config_set_hidden_layers(c, nullptr, 0), VAE_OK);
    EXPECT_EQ(vae_config_set_int(c, VAE_OPT_LIKELIHOOD, VAE_LIKELIHOOD_GAUSSIAN), VAE_OK);
    EXPECT_EQ(vae_config_set_float(c, VAE_OPT_LOG_VARIANCE, log_variance), VAE_OK);
    EXPECT_EQ(vae_config_set_int(c, VAE_OPT_BACKEND, backend), VAE_OK);
    EXPECT_EQ(vae_config_set_int(c, VAE_OPT_MAX_BATCH, 16), VAE_OK);
    vae_trainer* t = nullptr;
    EXPECT_EQ(vae_create(c, &t), VAE_OK) << vae_last_error();
    vae_config_destroy(c);
    if (t == nullptr) return nullptr;
    const std::vector<float> p = packed();
    EXPECT_EQ(vae_set_parameters(t, p.data(), static_cast<int64_t>(p.size())), VAE_OK)
        << vae_last_error();
    return t;
  }
};

}  // namespace vae::testing
