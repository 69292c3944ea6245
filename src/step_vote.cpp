#include "step_vote.h"

#include <cstring>

namespace vae {
namespace {

uint64_t bits_of(double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

uint32_t options_word(const Config& c) {
  uint64_t h = 0;
  for (const int64_t v : {c.input_dim, c.latent_dim, c.seed, c.samples,
                          int64_t{c.likelihood}, int64_t{c.variance}, int64_t{c.activation},
                          int64_t{c.objective}, int64_t{c.update}, c.prior_components,
                          c.condition_dim}) {
    h = mix_hash(h, static_cast<uint64_t>(v));
  }
  for (const double v : {c.log_variance, c.learning_rate, c.adam_beta1, c.adam_beta2,
                         c.adam_epsilon, c.kl_weight}) {
    h = mix_hash(h, bits_of(v));
  }
  h = mix_hash(h, static_cast<uint64_t>(c.hidden.size()));
  for (const int64_t w : c.hidden) h = mix_hash(h, static_cast<uint64_t>(w));
  return fold_hash(h);
}

}  // namespace

StepVote step_vote(const Config& config, int64_t epochs, std::initializer_list<int64_t> layout) {
  uint64_t h = 0;
  for (const int64_t v : layout) h = mix_hash(h, static_cast<uint64_t>(v));
  StepVote vote{};
  vote.words[0] = fold_hash(h);
  vote.words[1] = fold_hash(mix_hash(0, static_cast<uint64_t>(epochs)));
  vote.words[2] = options_word(config);
  return vote;
}

}  // namespace vae
