// Where each weight, bias and log variance lives in the one flat parameter
// buffer. Gradients and both Adam moments use the same layout, so the
// optimizer is one pass over contiguous memory. The encoder's parameters (phi)
// come first and the decoder's (theta) after, so an E-step or M-step updates
// one contiguous range.
//
// Users see the packed layout (alignment 1): the tensors back to back in
// PyTorch's order. A backend may ask for a padded layout in which every
// tensor starts on a multiple of an alignment (the CUDA backend: 64 floats,
// 256 bytes, for cuBLASLt); the padding between tensors holds zeros, and
// pack/unpack convert between the two.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace vae {

// One nn.Linear: y = act(x W^T + b), W stored [out, in] row-major as PyTorch does.
struct LinearLayer {
  std::string name;  // "encoder.0", ..., "decoder.0", ...
  int64_t in = 0, out = 0;
  size_t weight = 0, bias = 0;  // offsets into the flat buffer
  Activation activation = Activation::kIdentity;
};

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // in this layout
  size_t count = 0;
  size_t packed_offset = 0;  // in the packed layout users see
};

struct ParameterLayout {
  // alignment: in elements; every tensor and the encoder/decoder split start
  // on a multiple of it, and total is one. 1 packs the tensors back to back.
  explicit ParameterLayout(const Config& config, size_t alignment = 1);

  // Encoder: the hidden layers, then the head whose output is [mu | log sigma^2].
  std::vector<LinearLayer> encoder;
  // Decoder: the mirrored hidden layers, then the output layer (logits or
  // means; with VAE_VARIANCE_DECODER the means then the log-variance outputs).
  std::vector<LinearLayer> decoder;
  size_t log_variance = 0;          // offset of the learned decoder log variance
  int64_t log_variance_count = 0;   // 0 (fixed), 1 (shared) or input_dim (per dimension)
  // The learned prior (VAE_OPT_PRIOR_COMPONENTS = K > 0), after the decoder's
  // tensors: means [K, Z], log variances [K, Z], logits [K].
  int64_t prior_components = 0;
  int64_t latent = 0;
  size_t prior_means = 0, prior_log_variances = 0, prior_logits = 0;
  size_t encoder_end = 0;           // encoder parameters are [0, encoder_end)
  size_t total = 0;                 // decoder parameters are [encoder_end, total)
  size_t packed_total = 0;          // the parameter count: total without the padding
  int64_t condition_dim = 0;        // C: encoder.0 takes [x | c], decoder.0 [z | c]
  int64_t widest = 0;               // Config::widest()

  // Every tensor with its PyTorch name and shape, in buffer order.
  std::vector<NamedTensor> tensors() const;

  // This layout's buffer (total elements) to the packed one (packed_total).
  template <class T>
  void pack(const T* padded, T* packed) const {
    for (const NamedTensor& t : tensors()) {
      std::copy_n(padded + t.offset, t.count, packed + t.packed_offset);
    }
  }
  // The packed buffer to this layout's, with zeros in the padding.
  template <class T>
  void unpack(const T* packed, T* padded) const {
    std::fill_n(padded, total, T(0));
    for (const NamedTensor& t : tensors()) {
      std::copy_n(packed + t.packed_offset, t.count, padded + t.offset);
    }
  }
};

}  // namespace vae
