// Where each weight, bias and log variance lives in the one flat parameter
// buffer. Gradients and both Adam moments use the same layout, so the
// optimizer is one pass over contiguous memory. The encoder's parameters (phi)
// come first and the decoder's (theta) after, so an E-step or M-step updates
// one contiguous range.
#pragma once

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
  size_t offset = 0;
  size_t count = 0;
};

struct ParameterLayout {
  explicit ParameterLayout(const Config& config);

  // Encoder: the hidden layers, then the head whose output is [mu | log sigma^2].
  std::vector<LinearLayer> encoder;
  // Decoder: the mirrored hidden layers, then the output layer (logits or means).
  std::vector<LinearLayer> decoder;
  size_t log_variance = 0;          // offset of the learned decoder log variance
  int64_t log_variance_count = 0;   // 0 (fixed), 1 (shared) or input_dim (per dimension)
  size_t encoder_end = 0;           // encoder parameters are [0, encoder_end)
  size_t total = 0;                 // decoder parameters are [encoder_end, total)
  int64_t widest = 0;               // the widest activation, input and latent included

  // Every tensor with its PyTorch name and shape, in buffer order.
  std::vector<NamedTensor> tensors() const;
};

}  // namespace vae
