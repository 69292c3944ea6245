#include "cpu/cpu_ops.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "cpu/cpu_loops.h"
#include "cpu/gemm_blocks.h"
#include "cpu/host_dataset.h"

namespace vae {
namespace {

// Rows of `width` elements that make a part worth handing to a thread.
int64_t min_rows(int64_t width) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, width)); }

}  // namespace

// OpenBLAS's thread count is one setting for the whole process, and its
// results depend on it: trainers with different counts in different threads
// would change each other's numbers. So OpenBLAS runs single-threaded and the
// pool's threads each compute a block of every product (gemm_blocks.h).
template <class T>
void CpuOps<T>::begin_call() const {
  openblas_set_num_threads(1);
}

// One hand-off per layer: each thread copies the bias into its block of y,
// adds its block of the product and applies the activation while the block
// is still in its cache.
template <class T>
void CpuOps<T>::linear_forward(const LinearLayer& layer, const T* params, const T* x, T* y,
                               int64_t rows) const {
  Gemm<T> g;
  g.tb = true;
  g.m = rows;
  g.n = layer.out;
  g.k = layer.in;
  g.a = x;
  g.lda = layer.in;
  g.b = params + layer.weight;
  g.ldb = layer.in;
  g.beta = T(1);
  g.c = y;
  g.ldc = layer.out;
  const T* bias = params + layer.bias;
  const int parts = gemm_parts(g.m, g.n, g.k, pool_.threads());
  pool_.run(parts, [&](int64_t part, int64_t) {
    const GemmBlock block = gemm_block(g.m, g.n, static_cast<int>(part), parts);
    if (block.empty()) return;
    T* c = y + block.r0 * g.ldc;
    const int64_t block_rows = block.r1 - block.r0;
    cpu_loops::copy_bias(c, bias, block_rows, block.c0, block.c1, g.ldc);
    run_gemm_block(g, block);
    cpu_loops::activate_block(c, layer.activation, block_rows, block.c0, block.c1, g.ldc);
  }, 1);
}

// One hand-off per layer: thread p computes part p of dW, the bias
// gradient's sums over its share of the outputs (each in row order) and part
// p of dx, to which it applies the activation's derivative at once.
template <class T>
void CpuOps<T>::linear_backward(const LinearLayer& layer, const T* params, const T* x,
                                Activation input_activation, const T* dy, T* grads, T* dx,
                                int64_t rows) const {
  Gemm<T> w;  // dW = dy^T x
  w.ta = true;
  w.m = layer.out;
  w.n = layer.in;
  w.k = rows;
  w.a = dy;
  w.lda = layer.out;
  w.b = x;
  w.ldb = layer.in;
  w.c = grads != nullptr ? grads + layer.weight : nullptr;
  w.ldc = layer.in;
  Gemm<T> d;  // dx = dy W
  d.m = rows;
  d.n = layer.in;
  d.k = layer.out;
  d.a = dy;
  d.lda = layer.out;
  d.b = params + layer.weight;
  d.ldb = layer.in;
  d.c = dx;
  d.ldc = layer.in;
  const int threads = pool_.threads();
  const int w_parts = grads != nullptr ? gemm_parts(w.m, w.n, w.k, threads) : 0;
  const int d_parts = dx != nullptr ? gemm_parts(d.m, d.n, d.k, threads) : 0;
  const int parts = std::max({1, w_parts, d_parts});
  pool_.run(parts, [&](int64_t part64, int64_t) {
    const int part = static_cast<int>(part64);
    if (grads != nullptr) {
      if (part < w_parts) run_gemm_block(w, gemm_block(w.m, w.n, part, w_parts));
      int64_t o0 = 0, o1 = 0;
      part_range(layer.out, part, parts, kGemmColumnCut, &o0, &o1);
      if (o0 < o1) cpu_loops::column_sums(dy, rows, o0, o1, layer.out, grads + layer.bias);
    }
    if (part < d_parts) {
      const GemmBlock block = gemm_block(d.m, d.n, part, d_parts);
      if (block.empty()) return;
      run_gemm_block(d, block);
      cpu_loops::activation_grad_block(dx + block.r0 * layer.in, x + block.r0 * layer.in,
                                       input_activation, block.r1 - block.r0, block.c0, block.c1,
                                       layer.in);
    }
  }, 1);
}

template <class T>
void CpuOps<T>::latent_forward(const T* mu_logvar, int64_t n, int64_t samples, int64_t latent,
                               const NoiseSource& noise, T* eps, T* z, T* kl,
                               T* kl_sample) const {
  const int64_t rows = n * samples;
  NoiseKey key = noise.key;
  if (noise.counter != nullptr) key.counter = static_cast<uint64_t>(*noise.counter);
  // One hand-off: each thread draws the noise of its rows (row r draws that
  // of its place noise_row in the shared batch), then their z, the sampled KL
  // and (for rows below n) the analytic KL.
  pool_.run(rows, [&](int64_t begin, int64_t end) {
    if (!noise.injected) {
      NormalSequence normal(key);
      for (int64_t r = begin; r < end; ++r) {
        const auto first = static_cast<uint64_t>(noise_row(noise, r, n) * latent);
        for (int64_t j = 0; j < latent; ++j) {
          eps[r * latent + j] = T(normal.at(first + static_cast<uint64_t>(j)));
        }
      }
    }
    for (int64_t i = begin; i < std::min(end, n); ++i) {
      const T* mu = mu_logvar + i * 2 * latent;
      const T* lv = mu + latent;
      T sum = 0;
      for (int64_t j = 0; j < latent; ++j) sum += kl_term(mu[j], lv[j]);
      kl[i] = sum;
    }
    for (int64_t r = begin; r < end; ++r) {
      const T* mu = mu_logvar + (r % n) * 2 * latent;
      const T* lv = mu + latent;
      T sum = 0;
      for (int64_t j = 0; j < latent; ++j) {
        const int64_t e = r * latent + j;
        z[e] = reparameterize(mu[j], lv[j], eps[e]);
        sum += sampled_kl_term(z[e], eps[e], lv[j]);
      }
      kl_sample[r] = sum;
    }
  }, min_rows(4 * latent));
}

template <class T>
void CpuOps<T>::standard_normal(const NoiseKey& key, int64_t count, T* out) const {
  pool_.run(count, [&](int64_t begin, int64_t end) {
    NormalSequence normal(key);
    for (int64_t e = begin; e < end; ++e) out[e] = T(normal.at(static_cast<uint64_t>(e)));
  }, 1024);
}

template <class T>
void CpuOps<T>::likelihood_forward(const Likelihood& lik, const T* learned_log_variance,
                                   const T* out, const T* x, int64_t rows, int64_t n,
                                   int64_t dim, T* nll, T* grad, T grad_scale) const {
  const int64_t width = lik.width(dim);
  pool_.run(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      nll[r] = cpu_loops::likelihood_row(lik, learned_log_variance, out + r * width,
                                         x + (r % n) * dim, dim,
                                         grad != nullptr ? grad + r * width : nullptr, grad_scale);
    }
  }, min_rows(width));
}

template <class T>
void CpuOps<T>::combine_samples(int objective, int64_t n, int64_t samples, double beta,
                                const T* nll, const T* kl, const T* kl_sample, T* weight,
                                T* row_loss) const {
  for (int64_t i = 0; i < n; ++i) {
    row_loss[i] = vae::combine_samples(objective, n, samples, i, beta, nll, kl, kl_sample, weight);
  }
}

template <class T>
void CpuOps<T>::likelihood_backward(const Likelihood& lik, const T* learned_log_variance,
                                    const T* out, const T* x, const T* weight, int64_t rows,
                                    int64_t n, int64_t mean_rows, int64_t dim, bool scale_rows,
                                    T* dout, T* d_log_variance) const {
  if (scale_rows) {
    const int64_t width = lik.width(dim);
    pool_.run(rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        T* g = dout + r * width;
        const T scale = weight[r] / T(mean_rows);
        for (int64_t d = 0; d < width; ++d) g[d] *= scale;
      }
    }, min_rows(width));
  }
  if (d_log_variance == nullptr) return;
  // The learned log variance's gradient sums over rows, in row order; the
  // precisions e^-v are computed once per dimension.
  auto term = [&](int64_t r, int64_t d, T precision) {
    return weight[r] / T(mean_rows) *
           gaussian_nll_grad_logvar_from_precision(x[(r % n) * dim + d], out[r * dim + d],
                                                   precision);
  };
  if (lik.variance == VAE_VARIANCE_LEARNED_SHARED) {
    const T precision = std::exp(-learned_log_variance[0]);
    T sum = 0;
    for (int64_t r = 0; r < rows; ++r) {
      T row_sum = 0;
      for (int64_t d = 0; d < dim; ++d) row_sum += term(r, d, precision);
      sum += row_sum;
    }
    *d_log_variance = sum;
    return;
  }
  constexpr int64_t kChunk = 256;
  T precision[kChunk];
  for (int64_t d0 = 0; d0 < dim; d0 += kChunk) {
    const int64_t width = std::min(kChunk, dim - d0);
    for (int64_t j = 0; j < width; ++j) precision[j] = std::exp(-learned_log_variance[d0 + j]);
    T* sums = d_log_variance + d0;
    std::fill_n(sums, width, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < width; ++j) sums[j] += term(r, d0 + j, precision[j]);
    }
  }
}

template <class T>
void CpuOps<T>::prior_forward(const MixturePrior<T>& prior, const T* mu_logvar, const T* eps,
                              const T* z, int64_t n, int64_t rows, T* kl_sample, T* resp,
                              T* prior_grad) const {
  const int64_t Z = prior.latent, K = prior.components;
  pool_.run(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* zr = z + r * Z;
      T* rr = resp != nullptr ? resp + r * K : nullptr;
      const T* l = mu_logvar + (r % n) * 2 * Z + Z;
      kl_sample[r] = mixture_sampled_kl(prior, eps + r * Z, l, zr, rr);
      if (prior_grad == nullptr) continue;
      for (int64_t j = 0; j < Z; ++j) prior_grad[r * Z + j] = prior.neg_log_density_grad(zr, rr, j);
    }
  }, min_rows(2 * K * Z));
}

template <class T>
void CpuOps<T>::prior_backward(const MixturePrior<T>& prior, int64_t rows, const T* z,
                               const T* resp, const T* weight, int64_t mean_rows, double beta,
                               T* d_means, T* d_log_variances, T* d_logits) const {
  const int64_t KZ = prior.components * prior.latent;
  const T scale = T(beta) / T(mean_rows);
  pool_.run(2 * KZ + prior.components, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      T* out = e < KZ       ? d_means + e
               : e < 2 * KZ ? d_log_variances + (e - KZ)
                            : d_logits + (e - 2 * KZ);
      *out = prior_parameter_gradient(prior, e, rows, z, resp, weight, scale);
    }
  }, min_rows(rows));
}

template <class T>
void CpuOps<T>::prior_sample(const MixturePrior<T>& prior, const NoiseKey& components,
                             int64_t rows, T* z) const {
  const int64_t Z = prior.latent;
  for (int64_t r = 0; r < rows; ++r) {
    const float u = standard_uniform(components, static_cast<uint64_t>(r));
    mixture_draw(prior, u, z + r * Z, z + r * Z);
  }
}

template <class T>
void CpuOps<T>::latent_backward(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                                int64_t latent, double beta, const T* mu_logvar, const T* eps,
                                const T* z, const T* prior_grad, const T* dz, const T* weight,
                                T* d_mu_logvar) const {
  pool_.run(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < latent; ++j) {
        latent_gradient(objective, n, mean_rows, samples, latent, i, j, beta, mu_logvar, eps, z,
                        prior_grad, dz, weight, &d_mu_logvar[i * 2 * latent + j],
                        &d_mu_logvar[i * 2 * latent + latent + j]);
      }
    }
  }, min_rows(4 * latent * samples));
}

template <class T>
void CpuOps<T>::mean(const T* v, int64_t n, T* out) const {
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += v[i];
  *out = sum / T(n);
}

// The check and the sum of squares in one pass, tile by tile (in parallel);
// the tiles' sums are then added in tile order, so neither the verdict nor
// the norm depends on the thread count.
template <class T>
void CpuOps<T>::check_step(const T* loss, const T* g, size_t begin, size_t end) const {
  const int64_t tiles = static_cast<int64_t>((end - begin + kNormTile - 1) / kNormTile);
  if (tile_squares_.size() < static_cast<size_t>(tiles)) tile_squares_.resize(tiles);
  std::atomic<size_t> bad{!(*loss * T(0) == T(0)) ? size_t{1} : size_t{0}};
  pool_.run(tiles, [&](int64_t first, int64_t last) {
    size_t unusable = 0;
    for (int64_t tile = first; tile < last; ++tile) {
      const size_t lo = begin + static_cast<size_t>(tile) * kNormTile;
      const size_t hi = std::min(end, lo + kNormTile);
      unusable += cpu_loops::check_gradients(g, lo, hi, &tile_squares_[tile]);
    }
    bad += unusable;
  }, 1);
  double sum_squares = 0;
  for (int64_t tile = 0; tile < tiles; ++tile) sum_squares += tile_squares_[tile];
  state_.grad_sum_squares = sum_squares;
  if (bad != 0) state_.bad = 1;
}

template <class T>
void CpuOps<T>::adam(T* p, const T* g, T* m, T* v, size_t begin, size_t split,
                     size_t end) const {
  if (state_.bad != 0) return;
  const AdamStep encoder = state_.encoder, decoder = state_.decoder;
  pool_.run(static_cast<int64_t>(end - begin), [&](int64_t first, int64_t last) {
    const size_t lo = begin + static_cast<size_t>(first), hi = begin + static_cast<size_t>(last);
    const size_t mid = std::min(std::max(split, lo), hi);
    cpu_loops::adam_range(p, g, m, v, lo, mid, encoder);
    cpu_loops::adam_range(p, g, m, v, mid, hi, decoder);
  });
}

template <class T>
void CpuOps<T>::output_mean(const Likelihood& lik, const T* out, int64_t rows, int64_t dim,
                            T* mean) const {
  const int64_t width = lik.width(dim);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t d = 0; d < dim; ++d) mean[r * dim + d] = lik.mean(out[r * width + d]);
  }
}

template <class T>
void CpuOps<T>::split_mu_logvar(const T* mu_logvar, int64_t n, int64_t latent, T* mu,
                                T* logvar) const {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(mu + i * latent, mu_logvar + i * 2 * latent, sizeof(T) * latent);
    std::memcpy(logvar + i * latent, mu_logvar + i * 2 * latent + latent, sizeof(T) * latent);
  }
}

template <class T>
void CpuOps<T>::fill(T* p, int64_t count, T value) const {
  for (int64_t e = 0; e < count; ++e) p[e] = value;
}

template <class T>
void CpuOps<T>::upload_from_caller(T* dst, const float* src, size_t count) const {
  for (size_t e = 0; e < count; ++e) dst[e] = T(src[e]);
}

template <class T>
bool CpuOps<T>::upload_checked_rows(T* dst, const CallerRows& rows) const {
  copy_checked_rows(rows, dst, pool_);
  return false;
}

template <class T>
void CpuOps<T>::copy_to_caller(float* dst, const T* src, size_t count) const {
  for (size_t e = 0; e < count; ++e) dst[e] = static_cast<float>(src[e]);
}

template <class T>
void CpuOps<T>::copy_host_floats(float* dst, const float* src, size_t count) const {
  std::memcpy(dst, src, sizeof(float) * count);
}

template <class T>
std::unique_ptr<Dataset> CpuOps<T>::make_dataset(const void* data, int64_t n, int64_t dim,
                                                 bool bytes, bool bernoulli) const {
  auto ds = std::make_unique<HostDataset>();
  const size_t count = static_cast<size_t>(n * dim);
  if (bytes) {
    const auto* y = static_cast<const uint8_t*>(data);
    ds->byte_rows.assign(y, y + count);
    ds->u8 = ds->byte_rows.data();
  } else {
    CallerRows rows;
    rows.values = static_cast<const float*>(data);
    rows.rows = n;
    rows.dim = dim;
    rows.bernoulli = bernoulli;
    ds->float_rows.resize(count);
    copy_checked_rows(rows, ds->float_rows.data(), pool_);
    ds->floats = ds->float_rows.data();
  }
  ds->permutation.resize(static_cast<size_t>(n));
  ds->order = ds->permutation.data();
  return ds;
}

template <class T>
void CpuOps<T>::shuffle(Dataset& ds, const NoiseKey& key) const {
  epoch_permutation(key, ds.rows, ds.order);
}

template <class T>
void CpuOps<T>::gather_rows(const Dataset& ds, int64_t first, int64_t n, const NoiseKey& bytes,
                            const StepState* epoch, T* x) const {
  const int64_t dim = ds.dim;
  NoiseKey noise = bytes;
  if (epoch != nullptr) {
    first += epoch->cursor;
    noise.counter = static_cast<uint64_t>(epoch->steps);
  }
  pool_.run(n, [&](int64_t begin, int64_t end) {
    UniformSequence uniform(noise);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t row = epoch != nullptr ? ds.order[first + i] : first + i;
      T* dst = x + i * dim;
      if (!ds.bytes) {
        const float* src = ds.floats + row * dim;
        for (int64_t d = 0; d < dim; ++d) dst[d] = T(src[d]);
        continue;
      }
      const uint8_t* src = ds.u8 + row * dim;
      for (int64_t d = 0; d < dim; ++d) {
        const float u = ds.transform == ByteTransform::kScale
                            ? 0.0f
                            : uniform.at(static_cast<uint64_t>(i * dim + d));
        dst[d] = transform_byte<T>(src[d], u, ds.transform);
      }
    }
  }, min_rows(dim));
}

template class CpuOps<float>;
template class CpuOps<double>;

}  // namespace vae
