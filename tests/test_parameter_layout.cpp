// The padded parameter layout the CUDA backend uses (every tensor on a
// 64-float boundary) against the packed PyTorch layout users see: the
// placement for awkward sizes, the conversion both ways, and a CPU trainer
// over the padded layout that trains bit for bit like the packed one.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

namespace vae {
namespace {

using testing::CpuTrainerD;
using testing::CpuTrainerF;

constexpr size_t kAlignment = 64;

// The CPU backend over the CUDA backend's padded layout.
template <class T>
struct PaddedCpuOps : CpuOps<T> {
  using CpuOps<T>::CpuOps;
  static constexpr size_t kParameterAlignment = kAlignment;
};
using PaddedTrainerF = TrainerImpl<PaddedCpuOps<float>>;
using PaddedTrainerD = TrainerImpl<PaddedCpuOps<double>>;

struct LayoutCase {
  const char* name;
  int64_t dim, latent;
  std::vector<int64_t> hidden;
  int variance;  // VAE_VARIANCE_FIXED is the Bernoulli likelihood
};

const LayoutCase kCases[] = {
    {"13-7-3", 13, 3, {7}, VAE_VARIANCE_FIXED},
    {"784-[401,33]-5", 784, 5, {401, 33}, VAE_VARIANCE_FIXED},
    {"9-[]-2", 9, 2, {}, VAE_VARIANCE_FIXED},
    {"13-7-3 shared variance", 13, 3, {7}, VAE_VARIANCE_LEARNED_SHARED},
    {"784-[401,33]-5 per-dimension variance", 784, 5, {401, 33}, VAE_VARIANCE_LEARNED_PER_DIM},
    {"9-[]-2 per-dimension variance", 9, 2, {}, VAE_VARIANCE_LEARNED_PER_DIM},
};

Config config_of(const LayoutCase& lc) {
  Config c = testing::small_config(lc.dim, lc.latent, lc.hidden);
  if (lc.variance != VAE_VARIANCE_FIXED) {
    c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
    c.variance = lc.variance;
  }
  c.validate();
  return c;
}

TEST(ParameterLayout, PaddedTensorsAreAlignedDisjointAndInOrder) {
  for (const LayoutCase& lc : kCases) {
    const Config c = config_of(lc);
    const ParameterLayout packed(c);
    for (size_t alignment : {size_t{1}, size_t{4}, kAlignment}) {
      const ParameterLayout padded(c, alignment);
      const std::vector<NamedTensor> tensors = padded.tensors();
      const std::vector<NamedTensor> packed_tensors = packed.tensors();
      ASSERT_EQ(tensors.size(), packed_tensors.size()) << lc.name;
      EXPECT_EQ(padded.encoder_end % alignment, 0u) << lc.name;
      EXPECT_EQ(padded.total % alignment, 0u) << lc.name;
      EXPECT_EQ(padded.packed_total, packed.total) << lc.name;
      const size_t encoder_tensors = 2 * padded.encoder.size();
      size_t end = 0, packed_end = 0;
      for (size_t i = 0; i < tensors.size(); ++i) {
        const NamedTensor& t = tensors[i];
        const std::string where = std::string(lc.name) + " " + t.name + " alignment " +
                                  std::to_string(alignment);
        EXPECT_EQ(t.offset % alignment, 0u) << where;
        EXPECT_GE(t.offset, end) << where;
        EXPECT_GE(t.offset, i < encoder_tensors ? 0 : padded.encoder_end) << where;
        end = t.offset + t.count;
        EXPECT_LE(end, i < encoder_tensors ? padded.encoder_end : padded.total) << where;
        // The same tensor as the packed layout's, back to back there.
        EXPECT_EQ(t.name, packed_tensors[i].name) << where;
        EXPECT_EQ(t.count, packed_tensors[i].count) << where;
        EXPECT_EQ(t.packed_offset, packed_tensors[i].offset) << where;
        EXPECT_EQ(t.packed_offset, packed_end) << where;
        packed_end += t.count;
      }
      EXPECT_EQ(packed_end, padded.packed_total) << lc.name;
      if (alignment == 1) {
        EXPECT_EQ(padded.total, padded.packed_total) << lc.name;
      }
    }
  }
}

TEST(ParameterLayout, LayersAndLogVarianceUseTheTensorsOffsets) {
  for (const LayoutCase& lc : kCases) {
    const ParameterLayout padded(config_of(lc), kAlignment);
    const std::vector<NamedTensor> tensors = padded.tensors();
    size_t i = 0;
    for (const auto* layers : {&padded.encoder, &padded.decoder}) {
      for (const LinearLayer& l : *layers) {
        EXPECT_EQ(tensors[i++].offset, l.weight) << lc.name << " " << l.name;
        EXPECT_EQ(tensors[i++].offset, l.bias) << lc.name << " " << l.name;
      }
    }
    if (padded.log_variance_count > 0) {
      EXPECT_EQ(tensors[i].offset, padded.log_variance) << lc.name;
      EXPECT_EQ(tensors[i++].count, static_cast<size_t>(padded.log_variance_count)) << lc.name;
    }
    EXPECT_EQ(i, tensors.size()) << lc.name;
  }
}

template <class T>
void expect_round_trip(const ParameterLayout& layout, const char* name) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<T> dist(-1, 1);
  std::vector<T> packed(layout.packed_total);
  for (T& x : packed) x = dist(rng);
  std::vector<T> padded(layout.total, T(7));  // unpack overwrites the padding too
  layout.unpack(packed.data(), padded.data());
  std::vector<bool> in_tensor(layout.total, false);
  for (const NamedTensor& t : layout.tensors()) {
    for (size_t e = 0; e < t.count; ++e) {
      in_tensor[t.offset + e] = true;
      ASSERT_EQ(padded[t.offset + e], packed[t.packed_offset + e]) << name << " " << t.name;
    }
  }
  for (size_t e = 0; e < layout.total; ++e) {
    if (!in_tensor[e]) {
      ASSERT_EQ(padded[e], T(0)) << name << " padding element " << e;
    }
  }
  std::vector<T> back(layout.packed_total, T(7));
  layout.pack(padded.data(), back.data());
  EXPECT_EQ(back, packed) << name;
}

TEST(ParameterLayout, PackUndoesUnpackAndThePaddingIsZero) {
  for (const LayoutCase& lc : kCases) {
    for (size_t alignment : {size_t{1}, kAlignment}) {
      const ParameterLayout layout(config_of(lc), alignment);
      expect_round_trip<float>(layout, lc.name);
      expect_round_trip<double>(layout, lc.name);
    }
  }
}

// Every element of the four state buffers outside the tensors.
template <class Trainer>
void expect_zero_padding(Trainer& t) {
  const ParameterLayout& layout = t.network().layout();
  std::vector<bool> in_tensor(layout.total, false);
  for (const NamedTensor& tensor : layout.tensors()) {
    std::fill_n(in_tensor.begin() + static_cast<std::ptrdiff_t>(tensor.offset), tensor.count, true);
  }
  const auto& b = t.network().buffers();
  size_t padding = 0;
  for (size_t e = 0; e < layout.total; ++e) {
    if (in_tensor[e]) continue;
    ++padding;
    ASSERT_EQ(b.params[e], 0) << e;
    ASSERT_EQ(b.grads[e], 0) << e;
    ASSERT_EQ(b.adam_m[e], 0) << e;
    ASSERT_EQ(b.adam_v[e], 0) << e;
  }
  EXPECT_GT(padding, 0u);
}

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(PaddedTrainer, TrainsBitForBitLikeThePackedOne) {
  for (int variance : {VAE_VARIANCE_LEARNED_PER_DIM, VAE_VARIANCE_LEARNED_SHARED}) {
    Config c = testing::small_config(13, 3, {7, 5}, 8);
    c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
    c.variance = variance;
    c.samples = 2;
    auto packed = testing::make_trainer<CpuTrainerF>(c);
    auto padded = testing::make_trainer<PaddedTrainerF>(c);
    ASSERT_GT(padded->network().layout().total, packed->network().layout().total);
    ASSERT_EQ(padded->parameter_count(), packed->parameter_count());
    const auto x = testing::uniform(8 * 13, 3);
    // Both halves together, then each alone, so the encoder's and the
    // decoder's Adam counters differ and each range is updated on its own.
    for (int update : {VAE_UPDATE_ALL, VAE_UPDATE_ENCODER, VAE_UPDATE_DECODER, VAE_UPDATE_ALL}) {
      packed->set_int(VAE_OPT_UPDATE, update);
      padded->set_int(VAE_OPT_UPDATE, update);
      for (int step = 0; step < 2; ++step) {
        float loss_packed = 0, loss_padded = 0;
        packed->train_step(x.data(), 8, &loss_packed);
        padded->train_step(x.data(), 8, &loss_padded);
        EXPECT_EQ(loss_padded, loss_packed) << "variance " << variance << " update " << update;
      }
    }
    for (StateBuffer b : {StateBuffer::kParameters, StateBuffer::kAdamFirstMoment,
                          StateBuffer::kAdamSecondMoment}) {
      EXPECT_EQ(padded->read_state(b), packed->read_state(b)) << static_cast<int>(b);
    }
    std::vector<float> p_packed(static_cast<size_t>(packed->parameter_count()));
    std::vector<float> p_padded(p_packed.size());
    packed->get_parameters(p_packed.data(), static_cast<int64_t>(p_packed.size()));
    padded->get_parameters(p_padded.data(), static_cast<int64_t>(p_padded.size()));
    EXPECT_EQ(p_padded, p_packed);
    std::vector<float> elbo_packed(8), elbo_padded(8);
    packed->evaluate(x.data(), 8, elbo_packed.data(), nullptr, nullptr);
    padded->evaluate(x.data(), 8, elbo_padded.data(), nullptr, nullptr);
    EXPECT_EQ(elbo_padded, elbo_packed);
    expect_zero_padding(*padded);

    // The same checkpoint, byte for byte (file names of this process alone).
    const std::string stem = testing::temp_path("layout");
    const std::string path_packed = stem + "_packed.safetensors";
    const std::string path_padded = stem + "_padded.safetensors";
    packed->save(path_packed);
    padded->save(path_padded);
    EXPECT_EQ(file_bytes(path_padded), file_bytes(path_packed));
    std::remove(path_packed.c_str());
    std::remove(path_padded.c_str());

    // Parameters set through the packed layout land in the right tensors.
    for (float& p : p_packed) p *= 0.5f;
    packed->set_parameters(p_packed.data(), static_cast<int64_t>(p_packed.size()));
    padded->set_parameters(p_packed.data(), static_cast<int64_t>(p_packed.size()));
    packed->evaluate(x.data(), 8, elbo_packed.data(), nullptr, nullptr);
    padded->evaluate(x.data(), 8, elbo_padded.data(), nullptr, nullptr);
    EXPECT_EQ(elbo_padded, elbo_packed);
    expect_zero_padding(*padded);
  }
}

TEST(PaddedTrainer, GradientIsThePackedOnesInDouble) {
  Config c = testing::small_config(13, 3, {7}, 5);
  c.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  c.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  auto packed = testing::make_trainer<CpuTrainerD>(c);
  auto padded = testing::make_trainer<PaddedTrainerD>(c);
  const auto x = testing::uniform(5 * 13, 8);
  const auto eps = testing::normal(5 * 3, 9);
  std::vector<double> g_packed, g_padded;
  const double l_packed = packed->loss_and_gradient(x.data(), 5, eps.data(), &g_packed);
  const double l_padded = padded->loss_and_gradient(x.data(), 5, eps.data(), &g_padded);
  EXPECT_EQ(l_padded, l_packed);
  ASSERT_EQ(g_padded.size(), static_cast<size_t>(packed->parameter_count()));
  EXPECT_EQ(g_padded, g_packed);
}

}  // namespace
}  // namespace vae
