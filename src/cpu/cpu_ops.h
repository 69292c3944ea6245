// The CPU backend's primitives: OpenBLAS GEMMs for the layers, the shared
// element math of kernels/ for everything else, on host memory. T is float
// for training and double for the finite-difference tests, so the same code
// path is checked in double precision. Every loop runs in a fixed order, so
// a seed and a thread count give bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "caller_rows.h"
#include "condition.h"
#include "config.h"
#include "dataset.h"
#include "eval_buffers.h"
#include "evaluation.h"
#include "mixture_prior.h"
#include "model_math.h"
#include "cpu/thread_pool.h"
#include "error.h"
#include "parameter_layout.h"
#include "permutation.h"
#include "shared_step.h"
#include "step_state.h"

namespace vae {

template <class T>
class CpuOps {
 public:
  using Scalar = T;
  static constexpr bool kDeviceMemory = false;
  static constexpr size_t kParameterAlignment = 1;  // floats; the packed PyTorch layout

  explicit CpuOps(int threads) : pool_(threads) {}

  // The one arena of the workspace; called once, when the trainer is built.
  // (With it, the sums of the gradient's tiles: see check_step.)
  T* allocate(size_t count) {
    arena_.assign(count, T(0));
    tile_squares_.assign(count / kNormTile + 1, 0.0);
    return arena_.data();
  }
  void apply_options(const Config& config) { pool_.resize(static_cast<int>(config.threads)); }
  [[noreturn]] void set_stream(void*) const {
    fail(VAE_ERROR_UNSUPPORTED, "vae_set_cuda_stream: the trainer runs on the CPU backend");
  }
  // Makes OpenBLAS single-threaded for the calls that follow (the pool runs
  // the GEMMs' parts; see cpu_ops.cpp).
  void begin_call() const;

  // y[rows, out] = act(x[rows, in] W^T + b).
  void linear_forward(const LinearLayer& layer, const T* params, const T* x, T* y,
                      int64_t rows) const;
  // Given dy = dL/d(pre-activation output) [rows, out] and the input x:
  //   dW = dy^T x, db = sum_rows dy (when grads is not null),
  //   dx = (dy W) * act'(x) for the activation that produced x (when dx is not null).
  void linear_backward(const LinearLayer& layer, const T* params, const T* x,
                       Activation input_activation, const T* dy, T* grads, T* dx,
                       int64_t rows) const;

  // z = mu + sigma eps for the K samples of each of n rows (rows k*n + i),
  // the analytic KL per row and the sampled KL per sample; row r draws the
  // noise of its place in the batch (noise_row).
  void latent_forward(const T* mu_logvar, int64_t n, int64_t samples, int64_t latent,
                      const NoiseSource& noise, T* eps, T* z, T* kl, T* kl_sample) const;
  // count draws of N(0, 1).
  void standard_normal(const NoiseKey& key, int64_t count, T* out) const;

  // A learned prior (src/mixture_prior.h), per decoder row r < rows (data
  // row r mod n): kl_sample[r] = log q(z_r|x) - log p(z_r); with resp and
  // prior_grad not null, the responsibilities [rows, K] and -d log p / dz
  // [rows, Z].
  void prior_forward(const MixturePrior<T>& prior, const T* mu_logvar, const T* eps, const T* z,
                     int64_t n, int64_t rows, T* kl_sample, T* resp, T* prior_grad) const;
  // The loss's gradient by the prior's parameters (prior_parameter_gradient,
  // scale beta / mean_rows), into the three tensors' places of the gradient.
  void prior_backward(const MixturePrior<T>& prior, int64_t rows, const T* z, const T* resp,
                      const T* weight, int64_t mean_rows, double beta, T* d_means,
                      T* d_log_variances, T* d_logits) const;
  // rows draws of the mixture in place: z holds each row's standard normal
  // eps, row r picks its component with element r of the uniform array
  // `components` (mixture_draw).
  void prior_sample(const MixturePrior<T>& prior, const NoiseKey& components, int64_t rows,
                    T* z) const;

  // nll[r] = -log p(x_{r mod n} | out_r) for each of `rows` decoder rows;
  // when grad is not null, also grad[r] = grad_scale d nll_r / d out_r in
  // the same pass.
  void likelihood_forward(const Likelihood& lik, const T* learned_log_variance, const T* out,
                          const T* x, int64_t rows, int64_t n, int64_t dim, T* nll, T* grad,
                          T grad_scale) const;
  void combine_samples(int objective, int64_t n, int64_t samples, double beta, const T* nll,
                       const T* kl, const T* kl_sample, T* weight, T* row_loss) const;
  // dout holds d nll_r / d out_r from likelihood_forward; when
  // scale_rows, scales row r by weight[r] / mean_rows (else it was scaled
  // there). The learned log-variance gradient (shared or per dimension) when
  // d_log_variance is not null. mean_rows: the rows the loss is a mean over
  // (n, or the batch that ranks share).
  void likelihood_backward(const Likelihood& lik, const T* learned_log_variance, const T* out,
                           const T* x, const T* weight, int64_t rows, int64_t n,
                           int64_t mean_rows, int64_t dim, bool scale_rows, T* dout,
                           T* d_log_variance) const;
  // prior_grad: a learned prior's -d log p / dz, or null (latent_gradient).
  void latent_backward(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                       int64_t latent, double beta, const T* mu_logvar, const T* eps,
                       const T* z, const T* prior_grad, const T* dz, const T* weight,
                       T* d_mu_logvar) const;
  // *out = (1/n) sum_i v[i], summed in index order.
  void mean(const T* v, int64_t n, T* out) const;
  // The training step's state and its rules (kernels/step_state.h).
  StepState* step_state() const { return &state_; }
  void begin_step() const { state_.bad = 0; }
  // Marks the step bad when *loss or g[begin, end) is not finite, and puts
  // the sum of g^2 over [begin, end) in the step state, added in tiles of
  // kNormTile elements (each in cpu_loops' order), tile sums in tile order.
  void check_step(const T* loss, const T* g, size_t begin, size_t end) const;
  void begin_update(const AdamSettings& a) const { vae::begin_update(&state_, a); }
  // Adam over [begin, end), with the encoder's constants below split.
  void adam(T* p, const T* g, T* m, T* v, size_t begin, size_t split, size_t end) const;
  // Adam on vae_refine_posterior's variational parameters (kernels/step_state.h).
  void posterior_adam(T* p, const T* g, T* m, T* v, int64_t count, const AdamStep& s) const {
    for (int64_t e = 0; e < count; ++e) posterior_adam_element(&p[e], g[e], &m[e], &v[e], s);
  }
  void end_step(int update, int64_t rows, const T* loss, bool epoch) const {
    vae::end_step(&state_, update, rows, static_cast<float>(*loss), epoch);
  }
  // A step shared by ranks (kernels/shared_step.h): the tail after the
  // gradient, its loss sum added in index order as mean() adds; and after
  // the hook's sum, the verdict and the batch's mean loss into *loss.
  void write_share_tail(const T* row_loss, int64_t n, bool refused, bool stop,
                        const StepVote& vote, T* tail) const {
    T sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += row_loss[i];
    tail[kLossSumSlot] = sum;
    vae::write_share_tail(tail, n, refused, stop, vote, state_);
  }
  void accept_share_tail(const T* tail, int64_t world, int64_t batch_rows, T* loss) const {
    vae::accept_share_tail(&state_, tail, world, batch_rows, loss);
  }
  // What the allreduce hook is told of the stream: the CPU has none.
  void* stream_handle() const { return nullptr; }
  void begin_epoch() const {
    state_.cursor = 0;
    state_.loss_rows = 0;
    state_.loss_sum = 0;
  }
  StepState read_step_state() const { return state_; }
  void write_step_state(const StepState& s) const { state_ = s; }
  template <class U>
  float read_value(const U* p) const {
    return static_cast<float>(*p);
  }
  // Runs the step's work; the CPU has nothing to capture.
  template <class F>
  void run_captured(const StepGraph&, F&& enqueue) const {
    enqueue();
  }

  // mean[r, d] = the likelihood's mean from the decoder output out[r, d]
  // (rows of lik.width(dim)) for rows rows of dim dimensions.
  void output_mean(const Likelihood& lik, const T* out, int64_t rows, int64_t dim,
                   T* mean) const;

  // Evaluation (src/evaluation.h; defined in cpu_evaluation.cpp). The
  // workspace budget of VAE_OPT_EVAL_ROWS = 0, in bytes, and the most pairs
  // a chunk then takes (about 0.1 s of work for the default model).
  static constexpr size_t kEvaluationBytes = size_t{64} << 20;
  static constexpr size_t kEvaluationMaxPairs = size_t{1} << 16;
  // The pairs decoded at once: a tile per thread, each reusing its buffers.
  int64_t eval_decoder_rows(int64_t chunk_pairs, int64_t tile) const {
    return std::min(chunk_pairs, tile * pool_.threads());
  }
  // The evaluation workspace: count elements (zeroed), replacing the old;
  // throws, keeping the old, when memory cannot be had.
  T* reserve_evaluation(size_t count);
  void release_evaluation();
  // The encoder's outputs for `rows` staged rows x, in tiles of kEvalRowTile rows.
  void encode_tiles(const EvalModel<T>& m, const T* x, int64_t rows,
                    const std::vector<T*>& enc_out) const;
  // Each pair's value (EvalMode) in b.values, from the staged rows and their
  // encoder outputs: its latent (noise from key), decoder and likelihood,
  // tile by tile, each thread in its own tile of the decoder's buffers.
  void sample_values(const EvalModel<T>& m, const EvalChunk& c, EvalMode mode,
                     const NoiseKey& key, const EvalBuffers<T>& b) const;
  // accumulate_eval_row (src/model_math.h) for each of the chunk's rows.
  void accumulate_rows(const EvalModel<T>& m, const EvalChunk& c, EvalMode mode,
                       const EvalBuffers<T>& b) const;
  // [mu | logvar] rows into separate [n, Z] arrays.
  void split_mu_logvar(const T* mu_logvar, int64_t n, int64_t latent, T* mu, T* logvar) const;
  void fill(T* p, int64_t count, T value) const;

  // Data between the caller's host memory and the workspace, converting.
  void upload_from_caller(T* dst, const float* src, size_t count) const;
  // The caller's data rows into the workspace, checked as they are copied
  // (see caller_rows.h); a refusal throws at once, so no verdict is left
  // pending (false, as CudaOps returns for host rows).
  bool upload_checked_rows(T* dst, const CallerRows& rows) const;
  void copy_to_caller(float* dst, const T* src, size_t count) const;
  template <class U>
  void copy_to_host(U* dst, const T* src, size_t count) const {
    for (size_t e = 0; e < count; ++e) dst[e] = static_cast<U>(src[e]);
  }
  void copy_host_floats(float* dst, const float* src, size_t count) const;
  void synchronize() const {}

  // Datasets: host copies of the rows (float rows checked as they are
  // copied, also against [0, 1] when bernoulli); gather_rows writes n rows
  // starting at `first`, transforming bytes, or with `epoch` the rows of
  // this epoch's order from epoch->cursor on, the byte noise keyed by
  // epoch->steps.
  std::unique_ptr<Dataset> make_dataset(const void* data, int64_t n, int64_t dim, bool bytes,
                                        bool bernoulli) const;
  // Draws the epoch's permutation into ds.order (epoch_permutation).
  void shuffle(Dataset& ds, const NoiseKey& key) const;
  void gather_rows(const Dataset& ds, int64_t first, int64_t n, const NoiseKey& bytes,
                   const StepState* epoch, T* x) const;

  // A conditional model's inputs (kernels/condition.h; cpu_conditions.cpp).
  // out[r] = [left[r] | cond[condition_row(m, r)]] for rows rows.
  void join_condition(const T* left, int64_t left_width, const T* cond, int64_t cond_width,
                      const ConditionRows& m, int64_t rows, T* out) const;
  // dst [rows, cols] = the first cols columns of src [rows, src_width].
  void copy_columns(const T* src, int64_t src_width, int64_t rows, int64_t cols, T* dst) const;
  // The conditions [n, ds.condition_dim] of the rows gather_rows takes.
  void gather_conditions(const Dataset& ds, int64_t first, int64_t n, const StepState* epoch,
                         T* cond) const;
  // Keeps host floats [ds.rows, width] or labels [ds.rows] (checked) with ds,
  // replacing what it held; throws, ds unchanged, when memory cannot be had.
  void set_dataset_conditions(Dataset& ds, const float* floats, const uint8_t* labels,
                              int64_t width) const;

 private:
  // fn(slot, tile) for tiles [0, tiles), each thread taking the next tile
  // left; slot (< the thread count) is the running thread's own.
  template <class F>
  void run_tiles(int64_t tiles, F&& fn) const;

  // The trainer's threads: they run the products' blocks and the element loops.
  mutable ThreadPool pool_;
  std::vector<T> arena_;
  std::vector<T> eval_arena_;
  mutable StepState state_{};
  // The gradient check's sum of squares per tile (check_step).
  static constexpr size_t kNormTile = 8192;
  mutable std::vector<double> tile_squares_;
};

extern template class CpuOps<float>;
extern template class CpuOps<double>;

}  // namespace vae
