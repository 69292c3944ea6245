#include "parameter_layout.h"

#include <algorithm>

namespace vae {
namespace {

size_t round_up(size_t offset, size_t alignment) {
  return (offset + alignment - 1) / alignment * alignment;
}

LinearLayer place(const std::string& name, int64_t in, int64_t out, Activation a,
                  size_t alignment, size_t* offset) {
  LinearLayer l;
  l.name = name;
  l.in = in;
  l.out = out;
  l.activation = a;
  l.weight = round_up(*offset, alignment);
  l.bias = round_up(l.weight + static_cast<size_t>(in * out), alignment);
  *offset = l.bias + static_cast<size_t>(out);
  return l;
}

}  // namespace

ParameterLayout::ParameterLayout(const Config& c, size_t alignment) {
  const Activation act = c.hidden_activation();
  size_t offset = 0;
  int64_t in = c.input_dim + c.condition_dim;
  for (size_t i = 0; i < c.hidden.size(); ++i) {
    encoder.push_back(
        place("encoder." + std::to_string(i), in, c.hidden[i], act, alignment, &offset));
    in = c.hidden[i];
  }
  encoder.push_back(place("encoder." + std::to_string(c.hidden.size()), in, 2 * c.latent_dim,
                          Activation::kIdentity, alignment, &offset));
  encoder_end = round_up(offset, alignment);
  offset = encoder_end;

  in = c.latent_dim + c.condition_dim;
  for (size_t i = 0; i < c.hidden.size(); ++i) {
    const int64_t width = c.hidden[c.hidden.size() - 1 - i];
    decoder.push_back(
        place("decoder." + std::to_string(i), in, width, act, alignment, &offset));
    in = width;
  }
  decoder.push_back(place("decoder." + std::to_string(c.hidden.size()), in, c.output_width(),
                          Activation::kIdentity, alignment, &offset));
  log_variance_count = c.learned_log_variance_count();
  log_variance = round_up(offset, alignment);
  offset = log_variance + static_cast<size_t>(log_variance_count);
  prior_components = c.prior_components;
  latent = c.latent_dim;
  const auto prior_block = static_cast<size_t>(prior_components * latent);
  prior_means = round_up(offset, alignment);
  prior_log_variances = round_up(prior_means + prior_block, alignment);
  prior_logits = round_up(prior_log_variances + prior_block, alignment);
  offset = prior_logits + static_cast<size_t>(prior_components);
  total = round_up(offset, alignment);
  for (const NamedTensor& t : tensors()) packed_total += t.count;

  condition_dim = c.condition_dim;
  widest = c.widest();
}

std::vector<NamedTensor> ParameterLayout::tensors() const {
  std::vector<NamedTensor> t;
  for (const auto* layers : {&encoder, &decoder}) {
    for (const LinearLayer& l : *layers) {
      t.push_back({l.name + ".weight", {l.out, l.in}, l.weight, static_cast<size_t>(l.out * l.in)});
      t.push_back({l.name + ".bias", {l.out}, l.bias, static_cast<size_t>(l.out)});
    }
  }
  if (log_variance_count > 0) {
    t.push_back({"decoder.log_variance", {log_variance_count}, log_variance,
                 static_cast<size_t>(log_variance_count)});
  }
  if (prior_components > 0) {
    const auto block = static_cast<size_t>(prior_components * latent);
    t.push_back({"prior.means", {prior_components, latent}, prior_means, block});
    t.push_back({"prior.log_variances", {prior_components, latent}, prior_log_variances, block});
    t.push_back({"prior.logits", {prior_components}, prior_logits,
                 static_cast<size_t>(prior_components)});
  }
  size_t packed = 0;
  for (NamedTensor& tensor : t) {
    tensor.packed_offset = packed;
    packed += tensor.count;
  }
  return t;
}

}  // namespace vae
