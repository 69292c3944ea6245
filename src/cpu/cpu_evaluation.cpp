// The CPU backend's evaluation primitives (src/evaluation.h). The work is cut
// into tiles fixed by the call alone (kEvalRowTile rows of the encoder,
// a plan's tile of pairs for the decoder); the threads take tiles as they
// come free, and each tile runs start to end on one thread: its noise, its
// GEMMs through single-threaded OpenBLAS, its likelihood while the outputs
// are in cache. A tile's numbers do not depend on which thread ran it or on
// the chunk around it, so the results are the same bit for bit whatever
// VAE_OPT_EVAL_ROWS and VAE_OPT_THREADS are.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "cpu/blas_gemm.h"
#include "cpu/condition_loops.h"
#include "cpu/cpu_loops.h"
#include "cpu/cpu_ops.h"

namespace vae {
namespace {

// y[r, o] = act(y[r, o] + b[o]).
template <class T, Activation kActivation>
void add_bias_activate(const T* b, T* y, int64_t rows, int64_t out) {
  for (int64_t r = 0; r < rows; ++r) {
    T* row = y + r * out;
    for (int64_t o = 0; o < out; ++o) row[o] = activate(row[o] + b[o], kActivation);
  }
}

// y[rows, out] = x[rows, in] W^T on the calling thread, then with `finish`
// the bias and the activation (the decoder's output layer leaves both to
// the likelihood, which reads each output once anyway).
template <class T>
void tile_linear(const LinearLayer& layer, const T* params, const T* x, T* y, int64_t rows,
                 bool finish) {
  blas_gemm(false, true, rows, layer.out, layer.in, T(1), x, layer.in, params + layer.weight,
            layer.in, T(0), y, layer.out);
  if (!finish) return;
  const T* b = params + layer.bias;
  switch (layer.activation) {
    case Activation::kRelu: add_bias_activate<T, Activation::kRelu>(b, y, rows, layer.out); break;
    case Activation::kTanh: add_bias_activate<T, Activation::kTanh>(b, y, rows, layer.out); break;
    default: add_bias_activate<T, Activation::kIdentity>(b, y, rows, layer.out); break;
  }
}

}  // namespace

template <class T>
T* CpuOps<T>::reserve_evaluation(size_t count) {
  std::vector<T> larger(count, T(0));
  eval_arena_.swap(larger);
  return eval_arena_.data();
}

template <class T>
void CpuOps<T>::release_evaluation() {
  std::vector<T>().swap(eval_arena_);
}

// One part per thread, so a part's index is its thread's slot.
template <class T>
template <class F>
void CpuOps<T>::run_tiles(int64_t tiles, F&& fn) const {
  std::atomic<int64_t> next{0};
  pool_.run(std::min<int64_t>(tiles, pool_.threads()), [&](int64_t slot, int64_t) {
    for (int64_t t = next++; t < tiles; t = next++) fn(slot, t);
  }, 1);
}

template <class T>
void CpuOps<T>::encode_tiles(const EvalModel<T>& m, const T* x, int64_t rows,
                             const std::vector<T*>& enc_out) const {
  const std::vector<LinearLayer>& layers = m.layout->encoder;
  run_tiles((rows + kEvalRowTile - 1) / kEvalRowTile, [&](int64_t, int64_t t) {
    const int64_t first = t * kEvalRowTile;
    const int64_t count = std::min(kEvalRowTile, rows - first);
    const T* in = x + first * layers[0].in;
    for (size_t l = 0; l < layers.size(); ++l) {
      T* out = enc_out[l] + first * layers[l].out;
      tile_linear(layers[l], m.params, in, out, count, true);
      in = out;
    }
  });
}

template <class T>
void CpuOps<T>::sample_values(const EvalModel<T>& m, const EvalChunk& c, EvalMode mode,
                              const NoiseKey& key, const EvalBuffers<T>& b) const {
  const std::vector<LinearLayer>& layers = m.layout->decoder;
  const int64_t latent = m.latent;
  const int64_t head = 2 * latent;
  const T* mu_logvar = b.enc_out.back();
  run_tiles((c.pairs + c.tile - 1) / c.tile, [&](int64_t slot, int64_t t) {
    const int64_t first = t * c.tile;
    const int64_t count = std::min(c.tile, c.pairs - first);
    // This thread's tile of the decoder's buffers: rows slot * tile ...
    const int64_t scratch = slot * c.tile;
    T* eps = b.eps + scratch * latent;
    T* z = b.z + scratch * latent;
    NormalSequence noise(key);
    const NoiseKey components = mixture_component_key(key);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t g = c.first_pair + first + i;
      const T* row = mu_logvar + (g / c.k - c.first_row) * head;
      T sum = 0;
      for (int64_t j = 0; j < latent; ++j) {
        const T e = T(noise.at(static_cast<uint64_t>(g * latent + j)));
        sum += eval_latent(mode, e, latent, j, row, &eps[i * latent + j], &z[i * latent + j]);
      }
      if (m.prior.learned()) {
        const float u = standard_uniform(components, static_cast<uint64_t>(g));
        sum = mixture_eval_pair(mode, m.prior, u, row, eps + i * latent, z + i * latent);
      }
      b.kl_sample[first + i] = sum;
    }
    const T* in = z;
    if (m.condition_dim > 0) {
      // Pair g = i K + s of the call takes data row i's condition, row
      // i - first_row of the chunk's staged rows.
      ConditionRows by_data_row;
      by_data_row.offset = c.first_pair + first;
      by_data_row.divide = c.k;
      by_data_row.base = c.first_row;
      T* joined = b.decoder_input + scratch * (latent + m.condition_dim);
      join_condition_rows(z, latent, b.condition, m.condition_dim, by_data_row, 0, count, joined);
      in = joined;
    }
    for (size_t l = 0; l < layers.size(); ++l) {
      T* out = b.dec_out[l] + scratch * layers[l].out;
      tile_linear(layers[l], m.params, in, out, count, l + 1 < layers.size());
      in = out;
    }
    const T* bias = m.params + layers.back().bias;
    const int64_t width = m.likelihood.width(m.dim);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t p = first + i;
      const T* x = b.x + ((c.first_pair + p) / c.k - c.first_row) * m.dim;
      // The training step's likelihood row, adding the output bias.
      const T nll = cpu_loops::likelihood_row(m.likelihood, m.learned_log_variance,
                                              in + i * width, x, m.dim, nullptr, T(1), bias);
      b.values[p] = eval_value(mode, nll, b.kl_sample[p]);
    }
  });
}

template <class T>
void CpuOps<T>::accumulate_rows(const EvalModel<T>& m, const EvalChunk& c, EvalMode mode,
                                const EvalBuffers<T>& b) const {
  const int64_t head = 2 * m.latent;
  for (int64_t i = 0; i < c.pair_rows(); ++i) {
    const T* mu_logvar = b.enc_out.back() + (c.first_pair_row + i - c.first_row) * head;
    accumulate_eval_row(mode, c, i, b.values, m.prior.learned() ? b.kl_sample : nullptr,
                        mu_logvar, m.latent, b.carry, b.carry + kEvalCarry, b.results[0],
                        b.results[1], b.results[2]);
  }
  // The cut row's accumulator goes into the next chunk.
  std::copy_n(b.carry + kEvalCarry, kEvalCarry, b.carry);
}

// The members defined here (the others are instantiated in cpu_ops.cpp).
#define VAE_CPU_EVALUATION_MEMBERS(T)                                                           \
  template T* CpuOps<T>::reserve_evaluation(size_t);                                            \
  template void CpuOps<T>::release_evaluation();                                                \
  template void CpuOps<T>::encode_tiles(const EvalModel<T>&, const T*, int64_t,                 \
                                        const std::vector<T*>&) const;                          \
  template void CpuOps<T>::sample_values(const EvalModel<T>&, const EvalChunk&, EvalMode,       \
                                         const NoiseKey&, const EvalBuffers<T>&) const;         \
  template void CpuOps<T>::accumulate_rows(const EvalModel<T>&, const EvalChunk&, EvalMode,     \
                                           const EvalBuffers<T>&) const;
VAE_CPU_EVALUATION_MEMBERS(float)
VAE_CPU_EVALUATION_MEMBERS(double)
#undef VAE_CPU_EVALUATION_MEMBERS

}  // namespace vae
