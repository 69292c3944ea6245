#include "cpu/cpu_ops.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "cpu/blas_gemm.h"

namespace vae {
namespace {

// Rows of C that make a GEMM part worth handing to a thread.
constexpr int64_t kGemmMinRows = 16;

// Rows of `width` elements that make a part worth handing to a thread.
int64_t min_rows(int64_t width) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, width)); }

}  // namespace

// OpenBLAS's thread count is one setting for the whole process, and its
// results depend on it: trainers with different counts in different threads
// would change each other's numbers. So OpenBLAS runs single-threaded and the
// pool splits each product by rows of C, a split fixed by the thread count.
template <class T>
void CpuOps<T>::begin_call() const {
  openblas_set_num_threads(1);
}

// C[m, n] = alpha op(A) op(B) + beta C, row-major, rows of C in parallel:
// rows r of C take rows r of op(A), which are rows of A, or columns when ta.
template <class T>
void CpuOps<T>::parallel_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                              const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                              int64_t ldc) const {
  pool_.run(m, [&](int64_t begin, int64_t end) {
    gemm(ta, tb, end - begin, n, k, alpha, a + (ta ? begin : begin * lda), lda, b, ldb, beta,
         c + begin * ldc, ldc);
  }, kGemmMinRows);
}

template <class T>
void CpuOps<T>::linear_forward(const LinearLayer& layer, const T* params, const T* x, T* y,
                               int64_t rows) const {
  const T* w = params + layer.weight;
  const T* b = params + layer.bias;
  const int64_t rows_per_part = min_rows(layer.out);
  pool_.run(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) std::memcpy(y + r * layer.out, b, sizeof(T) * layer.out);
  }, rows_per_part);
  parallel_gemm(false, true, rows, layer.out, layer.in, T(1), x, layer.in, w, layer.in, T(1), y,
       layer.out);
  if (layer.activation != Activation::kIdentity) {
    pool_.run(rows * layer.out, [&](int64_t begin, int64_t end) {
      for (int64_t e = begin; e < end; ++e) y[e] = activate(y[e], layer.activation);
    });
  }
}

template <class T>
void CpuOps<T>::linear_backward(const LinearLayer& layer, const T* params, const T* x,
                                Activation input_activation, const T* dy, T* grads, T* dx,
                                int64_t rows) const {
  if (grads != nullptr) {
    parallel_gemm(true, false, layer.out, layer.in, rows, T(1), dy, layer.out, x, layer.in, T(0),
         grads + layer.weight, layer.in);
    T* db = grads + layer.bias;
    std::memcpy(db, dy, sizeof(T) * layer.out);
    for (int64_t r = 1; r < rows; ++r) {
      const T* row = dy + r * layer.out;
      for (int64_t o = 0; o < layer.out; ++o) db[o] += row[o];
    }
  }
  if (dx != nullptr) {
    parallel_gemm(false, false, rows, layer.in, layer.out, T(1), dy, layer.out, params + layer.weight,
         layer.in, T(0), dx, layer.in);
    if (input_activation != Activation::kIdentity) {
      pool_.run(rows * layer.in, [&](int64_t begin, int64_t end) {
        for (int64_t e = begin; e < end; ++e) {
          dx[e] *= activation_grad_from_output(x[e], input_activation);
        }
      });
    }
  }
}

template <class T>
void CpuOps<T>::latent_forward(const T* mu_logvar, int64_t n, int64_t samples, int64_t latent,
                               const NoiseSource& noise, T* eps, T* z, T* kl,
                               T* kl_sample) const {
  const int64_t rows = n * samples;
  if (!noise.injected) {
    NoiseKey key = noise.key;
    if (noise.counter != nullptr) key.counter = static_cast<uint64_t>(*noise.counter);
    standard_normal(key, rows * latent, eps);
  }
  for (int64_t i = 0; i < n; ++i) {
    const T* mu = mu_logvar + i * 2 * latent;
    const T* lv = mu + latent;
    T sum = 0;
    for (int64_t j = 0; j < latent; ++j) sum += kl_term(mu[j], lv[j]);
    kl[i] = sum;
  }
  for (int64_t r = 0; r < rows; ++r) {
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
}

template <class T>
void CpuOps<T>::standard_normal(const NoiseKey& key, int64_t count, T* out) const {
  for (int64_t e = 0; e < count; ++e) out[e] = T(vae::standard_normal(key, static_cast<uint64_t>(e)));
}

template <class T>
void CpuOps<T>::likelihood_forward(const Likelihood& lik, const T* learned_log_variance,
                                   const T* out, const T* x, int64_t rows, int64_t n,
                                   int64_t dim, T* nll, T* grad, T grad_scale) const {
  pool_.run(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* o = out + r * dim;
      const T* xr = x + (r % n) * dim;
      T sum = 0;
      if (grad == nullptr) {
        for (int64_t d = 0; d < dim; ++d) {
          sum += lik.nll(xr[d], o[d], lik.log_variance(learned_log_variance, d));
        }
      } else {
        T* g = grad + r * dim;
        for (int64_t d = 0; d < dim; ++d) {
          sum += lik.nll_and_grad(xr[d], o[d], lik.log_variance(learned_log_variance, d), &g[d]);
          g[d] *= grad_scale;
        }
      }
      nll[r] = sum;
    }
  }, min_rows(dim));
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
                                    int64_t n, int64_t dim, bool scale_rows, T* dout,
                                    T* d_log_variance) const {
  if (scale_rows) {
    pool_.run(rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        T* g = dout + r * dim;
        const T scale = weight[r] / T(n);
        for (int64_t d = 0; d < dim; ++d) g[d] *= scale;
      }
    }, min_rows(dim));
  }
  if (d_log_variance == nullptr) return;
  // The learned log variance's gradient sums over rows, in row order.
  const bool shared = lik.variance == VAE_VARIANCE_LEARNED_SHARED;
  std::memset(d_log_variance, 0, sizeof(T) * (shared ? 1 : dim));
  for (int64_t r = 0; r < rows; ++r) {
    const T* o = out + r * dim;
    const T* xr = x + (r % n) * dim;
    const T scale = weight[r] / T(n);
    T row_sum = 0;
    for (int64_t d = 0; d < dim; ++d) {
      const T gv =
          scale * gaussian_nll_grad_logvar(xr[d], o[d], lik.log_variance(learned_log_variance, d));
      if (shared) {
        row_sum += gv;
      } else {
        d_log_variance[d] += gv;
      }
    }
    if (shared) d_log_variance[0] += row_sum;
  }
}

template <class T>
void CpuOps<T>::latent_backward(int objective, int64_t n, int64_t samples, int64_t latent,
                                double beta, const T* mu_logvar, const T* eps, const T* z,
                                const T* dz, const T* weight, T* d_mu_logvar) const {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < latent; ++j) {
      latent_gradient(objective, n, samples, latent, i, j, beta, mu_logvar, eps, z, dz, weight,
                      &d_mu_logvar[i * 2 * latent + j], &d_mu_logvar[i * 2 * latent + latent + j]);
    }
  }
}

template <class T>
void CpuOps<T>::mean(const T* v, int64_t n, T* out) const {
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += v[i];
  *out = sum / T(n);
}

template <class T>
void CpuOps<T>::check_step(const T* loss, const T* g, size_t begin, size_t end) const {
  // x * 0 is 0 for finite x and NaN for NaN or infinity; comparing the
  // products with themselves finds NaN. Counting is a plain integer sum the
  // compiler vectorizes, where a floating-point sum could not be reordered.
  std::atomic<size_t> bad{!(*loss * T(0) == T(0)) ? size_t{1} : size_t{0}};
  pool_.run(static_cast<int64_t>(end - begin), [&](int64_t first, int64_t last) {
    size_t part = 0;
    for (int64_t e = first; e < last; ++e) part += !(g[begin + e] * T(0) == T(0));
    bad += part;
  });
  if (bad != 0) state_.bad = 1;
}

template <class T>
void CpuOps<T>::adam(T* p, const T* g, T* m, T* v, size_t begin, size_t split,
                     size_t end) const {
  if (state_.bad != 0) return;
  T* __restrict pr = p;
  const T* __restrict gr = g;
  T* __restrict mr = m;
  T* __restrict vr = v;
  const AdamStep encoder = state_.encoder, decoder = state_.decoder;
  pool_.run(static_cast<int64_t>(end - begin), [&](int64_t first, int64_t last) {
    const size_t lo = begin + static_cast<size_t>(first), hi = begin + static_cast<size_t>(last);
    const size_t mid = std::min(std::max(split, lo), hi);
    for (size_t e = lo; e < mid; ++e) adam_update(&pr[e], gr[e], &mr[e], &vr[e], encoder);
    for (size_t e = mid; e < hi; ++e) adam_update(&pr[e], gr[e], &mr[e], &vr[e], decoder);
  });
}

template <class T>
void CpuOps<T>::output_mean(const Likelihood& lik, T* out, int64_t count) const {
  for (int64_t e = 0; e < count; ++e) out[e] = lik.mean(out[e]);
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

namespace {

// A dataset in host memory.
struct HostDataset final : Dataset {
  std::vector<float> float_rows;
  std::vector<uint8_t> byte_rows;
  std::vector<int64_t> permutation;
};

}  // namespace

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
