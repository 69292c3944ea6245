// The CUDA backend's primitives: cuBLASLt GEMMs with bias and activation
// epilogues for the layers, the kernels of kernels/*.cu (which call the same
// element math as the CPU backend) for everything else, on device memory and
// one stream per trainer. CudaOps has every method of CpuOps<float>
// (src/cpu/cpu_ops.h), with the same names, signatures and meanings; the CPU
// backend is its reference.
//
// Every resource is owned by an RAII handle, every CUDA, cuBLAS and cuBLASLt
// status is checked (a failure throws Error(VAE_ERROR_DEVICE, "<call>:
// <library's message>"), VAE_ERROR_OUT_OF_MEMORY for a failed allocation).
// Nothing is allocated after allocate() but the captured graphs and the
// evaluation workspace (reserve_evaluation), and a training step never
// waits for the device: its verdict and counters live in
// the device's StepState (kernels/step_state.h).
//
// Streams: the work runs on the caller's stream when one was given
// (set_stream), else on the trainer's own non-blocking stream, which is
// ordered against the legacy default stream around every access to caller
// memory (vae.h, vae_set_cuda_stream).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "condition.h"
#include "config.h"
#include "dataset.h"
#include "eval_buffers.h"
#include "evaluation.h"
#include "model_math.h"
#include "caller_rows.h"
#include "parameter_layout.h"
#include "shared_step.h"
#include "step_state.h"

namespace vae {

namespace cuda_detail {

// Owners of the CUDA resources; the deleters ignore errors (they run in
// destructors, after the work is done or abandoned).
struct DeviceFree {
  void operator()(void* p) const noexcept;
};
struct PinnedFree {
  void operator()(void* p) const noexcept;
};
struct StreamDestroy {
  void operator()(cudaStream_t s) const noexcept;
};
struct BlasDestroy {
  void operator()(cublasHandle_t h) const noexcept;
};
struct LtDestroy {
  void operator()(cublasLtHandle_t h) const noexcept;
};
struct EventDestroy {
  void operator()(cudaEvent_t e) const noexcept;
};
using DeviceMemory = std::unique_ptr<void, DeviceFree>;
using PinnedMemory = std::unique_ptr<void, PinnedFree>;
using Stream = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDestroy>;
using BlasHandle = std::unique_ptr<std::remove_pointer_t<cublasHandle_t>, BlasDestroy>;
using LtHandle = std::unique_ptr<std::remove_pointer_t<cublasLtHandle_t>, LtDestroy>;
using Event = std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDestroy>;

// cudaMalloc of `bytes` (at least one), throwing on failure.
DeviceMemory device_allocate(size_t bytes, const char* what);

// The cuBLASLt plans (descriptors and the chosen algorithm) of the GEMM
// shapes seen so far; defined in cuda_ops.cpp.
struct GemmCache;
// The captured training steps, one per StepGraph; defined in cuda_graphs.cpp.
class StepGraphs;

}  // namespace cuda_detail

class CudaOps {
 public:
  using Scalar = float;
  static constexpr bool kDeviceMemory = true;
  static constexpr size_t kParameterAlignment = 64;  // floats: 256 bytes, for cuBLASLt

  // Selects config.device and creates the stream, the cuBLAS and cuBLASLt
  // handles and the pinned staging buffer.
  explicit CudaOps(const Config& config);
  ~CudaOps();
  CudaOps(const CudaOps&) = delete;
  CudaOps& operator=(const CudaOps&) = delete;

  // The one arena of the workspace (count floats, zeroed), allocated with the
  // cuBLASLt workspace and the backend's own scratch in one cudaMalloc;
  // called once, when the trainer is built.
  float* allocate(size_t count);
  // The bytes allocate(count) takes for a model whose widest layer is
  // `widest`: the estimate checked before anything is allocated.
  static size_t arena_bytes(size_t count, int64_t widest);
  // TF32: the GEMMs compute in CUBLAS_COMPUTE_32F_FAST_TF32 when config.tf32.
  // The live values a step reads (the learning rate, Adam's settings, the KL
  // weight) go to the device's StepSettings, which the captured steps read
  // when they run: a change of them, of the threads or of the evaluation
  // rows keeps the graphs. A change of what the launches themselves take
  // (TF32, the objective, the update mode, the rank or world size) drops
  // them.
  void apply_options(const Config& config);
  // How many step graphs were captured so far (the tests count them).
  int64_t graphs_captured() const;
  // The caller's stream (a cudaStream_t on this trainer's device), or null
  // for the trainer's own.
  void set_stream(void* stream);
  // Makes this trainer's device current for the calls that follow.
  void begin_call() const;

  // y[rows, out] = act(x[rows, in] W^T + b).
  void linear_forward(const LinearLayer& layer, const float* params, const float* x, float* y,
                      int64_t rows) const;
  // dW = dy^T x, db = sum_rows dy (when grads is not null); dx = (dy W) *
  // act'(x) for the activation that produced x (when dx is not null).
  void linear_backward(const LinearLayer& layer, const float* params, const float* x,
                       Activation input_activation, const float* dy, float* grads, float* dx,
                       int64_t rows) const;

  void latent_forward(const float* mu_logvar, int64_t n, int64_t samples, int64_t latent,
                      const NoiseSource& noise, float* eps, float* z, float* kl,
                      float* kl_sample) const;
  void standard_normal(const NoiseKey& key, int64_t count, float* out) const;
  // A learned prior's primitives, as CpuOps's (kernels/prior.cu).
  void prior_forward(const MixturePrior<float>& prior, const float* mu_logvar, const float* eps,
                     const float* z, int64_t n, int64_t rows, float* kl_sample, float* resp,
                     float* prior_grad) const;
  void prior_backward(const MixturePrior<float>& prior, int64_t rows, const float* z,
                      const float* resp, const float* weight, int64_t mean_rows, double beta,
                      float* d_means, float* d_log_variances, float* d_logits) const;
  void prior_sample(const MixturePrior<float>& prior, const NoiseKey& components, int64_t rows,
                    float* z) const;

  void likelihood_forward(const Likelihood& lik, const float* learned_log_variance,
                          const float* out, const float* x, int64_t rows, int64_t n, int64_t dim,
                          float* nll, float* grad, float grad_scale) const;
  void combine_samples(int objective, int64_t n, int64_t samples, double beta, const float* nll,
                       const float* kl, const float* kl_sample, float* weight,
                       float* row_loss) const;
  void likelihood_backward(const Likelihood& lik, const float* learned_log_variance,
                           const float* out, const float* x, const float* weight, int64_t rows,
                           int64_t n, int64_t mean_rows, int64_t dim, bool scale_rows,
                           float* dout, float* d_log_variance) const;
  void latent_backward(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                       int64_t latent, double beta, const float* mu_logvar, const float* eps,
                       const float* z, const float* prior_grad, const float* dz,
                       const float* weight, float* d_mu_logvar) const;
  // *out = (1/n) sum_i v[i], in a fixed order.
  void mean(const float* v, int64_t n, float* out) const;

  // The training step's state in device memory and its rules, one small
  // launch each (kernels/step.cu); the same calls as CpuOps's.
  StepState* step_state() const { return step_state_; }
  void begin_step() const;
  void check_step(const float* loss, const float* g, size_t begin, size_t end) const;
  void begin_update(const AdamSettings& a) const;
  void adam(float* p, const float* g, float* m, float* v, size_t begin, size_t split,
            size_t end) const;
  void end_step(int update, int64_t rows, const float* loss, bool epoch) const;
  // Adam on vae_refine_posterior's variational parameters (kernels/step_state.h).
  void posterior_adam(float* p, const float* g, float* m, float* v, int64_t count,
                      const AdamStep& constants) const;
  // A step shared by ranks (kernels/shared_step.h), on the device.
  void write_share_tail(const float* row_loss, int64_t n, bool refused, bool stop,
                        const StepVote& vote, float* tail) const;
  void accept_share_tail(const float* tail, int64_t world, int64_t batch_rows,
                         float* loss) const;
  // The stream the allreduce hook queues its sum on, as void*.
  void* stream_handle() const { return static_cast<void*>(stream()); }
  void begin_epoch() const;
  // Wait for the queued work and return the state, or a device value.
  StepState read_step_state() const;
  void write_step_state(const StepState& s) const;
  float read_value(const float* p) const;
  // Runs the step enqueue() queues: eagerly the first time a shape is seen,
  // then from a graph captured on the trainer's own stream and launched on
  // stream() (cuda_graphs.h).
  void run_captured(const StepGraph& graph, const std::function<void()>& enqueue) const;

  void output_mean(const Likelihood& lik, const float* out, int64_t rows, int64_t dim,
                   float* mean) const;

  // Evaluation (src/evaluation.h), as CpuOps's: the workspace budget of
  // VAE_OPT_EVAL_ROWS = 0 in bytes and the most pairs a chunk then takes;
  // the pairs decoded at once (a whole chunk); the evaluation workspace, a device
  // allocation of its own made by the first evaluation call (waits for the
  // queued work before it frees an old one); the encoder over the staged
  // rows; each pair's value (the latent kernel, the decoder's GEMMs over the
  // chunk's pairs, the likelihood kernel); the rows' accumulators.
  static constexpr size_t kEvaluationBytes = size_t{256} << 20;
  static constexpr size_t kEvaluationMaxPairs = size_t{1} << 20;
  int64_t eval_decoder_rows(int64_t chunk_pairs, int64_t) const { return chunk_pairs; }
  float* reserve_evaluation(size_t count);
  void release_evaluation();
  void encode_tiles(const EvalModel<float>& m, const float* x, int64_t rows,
                    const std::vector<float*>& enc_out) const;
  void sample_values(const EvalModel<float>& m, const EvalChunk& c, EvalMode mode,
                     const NoiseKey& key, const EvalBuffers<float>& b) const;
  void accumulate_rows(const EvalModel<float>& m, const EvalChunk& c, EvalMode mode,
                       const EvalBuffers<float>& b) const;
  void split_mu_logvar(const float* mu_logvar, int64_t n, int64_t latent, float* mu,
                       float* logvar) const;
  void fill(float* p, int64_t count, float value) const;

  // Data between the caller's memory (host or device) and the workspace,
  // enqueued on the stream. Host rows go through the pinned staging buffer,
  // so the copy is asynchronous and the caller may reuse its array at once.
  void upload_from_caller(float* dst, const float* src, size_t count) const;
  void copy_to_caller(float* dst, const float* src, size_t count) const;
  // The caller's rows into dst, held to the input rule (caller_rows.h):
  // pageable host rows are checked as they are copied into the pinned
  // staging buffer (a refusal throws at once); rows in device or pinned
  // memory are checked on the device into the step state, and the function
  // returns true: the verdict is there once the stream reaches it.
  bool upload_checked_rows(float* dst, const CallerRows& rows) const;
  // count device floats into host memory as U, through the pinned staging
  // buffer; returns when the values are there.
  template <class U>
  void copy_to_host(U* dst, const float* src, size_t count) const {
    for (size_t done = 0; done < count;) {
      const size_t part = std::min(count - done, staging_floats_);
      const float* host = download(src + done, part);
      for (size_t e = 0; e < part; ++e) dst[done + e] = static_cast<U>(host[e]);
      done += part;
    }
  }
  // Host floats to or from a caller's array (host or device); returns when
  // the copy is done.
  void copy_host_floats(float* dst, const float* src, size_t count) const;
  void synchronize() const;

  // Datasets: device copies of the rows (made once); shuffle draws the
  // epoch's permutation on the device; gather_rows writes n rows starting at
  // `first`, or with `epoch` the epoch's rows from epoch->cursor on,
  // transforming bytes.
  // Float rows are held to the input rule (against [0, 1] too when
  // bernoulli) on the device, before this returns.
  std::unique_ptr<Dataset> make_dataset(const void* data, int64_t n, int64_t dim, bool bytes,
                                        bool bernoulli) const;
  void shuffle(Dataset& ds, const NoiseKey& key) const;
  void gather_rows(const Dataset& ds, int64_t first, int64_t n, const NoiseKey& bytes,
                   const StepState* epoch, float* x) const;

  // A conditional model's inputs (kernels/condition.h; cuda_conditions.cpp),
  // as CpuOps's: the joined rows of the first layers, the gradient's first
  // cols columns, a dataset's conditions gathered as its rows are, and
  // conditions kept with a dataset (host floats or labels, copied to the
  // device before this returns; ds unchanged when that fails).
  void join_condition(const float* left, int64_t left_width, const float* cond,
                      int64_t cond_width, const ConditionRows& m, int64_t rows,
                      float* out) const;
  void copy_columns(const float* src, int64_t src_width, int64_t rows, int64_t cols,
                    float* dst) const;
  void gather_conditions(const Dataset& ds, int64_t first, int64_t n, const StepState* epoch,
                         float* cond) const;
  void set_dataset_conditions(Dataset& ds, const float* floats, const uint8_t* labels,
                              int64_t width) const;

  // The stream the work is queued on: the caller's, or the trainer's own
  // (always while a step is captured).
  cudaStream_t stream() const {
    return caller_stream_ != nullptr && !capturing_ ? caller_stream_ : stream_.get();
  }

 private:
  // One product D[m, n] = op(A) op(B) in cuBLASLt's column-major terms (see
  // cuda_ops.cpp for how the row-major layers map onto it).
  struct Gemm {
    bool trans_a = false, trans_b = false;
    int64_t m = 0, n = 0, k = 0;
    const float* a = nullptr;
    int64_t lda = 0;
    const float* b = nullptr;
    int64_t ldb = 0;
    float* d = nullptr;
    int64_t ldd = 0;
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    const float* bias = nullptr;  // the bias (BIAS epilogues) or the bias gradient (BGRADB)
  };
  // Runs the product with its epilogue and returns true; returns false,
  // having run nothing, when cuBLASLt has no algorithm for that epilogue
  // (the caller then applies it with a kernel). A product without an
  // epilogue that cuBLASLt cannot do runs as cublasSgemm.
  bool gemm(const Gemm& g) const;
  // count floats from device memory into the pinned staging buffer; returns
  // it once they are there.
  const float* download(const float* src, size_t count) const;
  // Around an access to caller memory on the trainer's own stream: wait for
  // the legacy default stream's queued work before, and make its later work
  // wait for ours after. Nothing with a caller's stream.
  void after_caller_work() const;
  void before_caller_work() const;

  int device_ = 0;
  int sm_count_ = 1;
  int64_t widest_ = 0;
  cublasComputeType_t compute_ = CUBLAS_COMPUTE_32F;
  cudaStream_t caller_stream_ = nullptr;
  mutable bool capturing_ = false;  // a step is being captured on stream_
  // cuBLAS's stream (and the workspace, which cublasSetStream resets).
  void point_blas_at(cudaStream_t s) const;
  // Declared in the order they may be destroyed in reverse: the stream
  // outlives everything queued on it, the memory outlives the handles and
  // graphs that use it.
  cuda_detail::Stream stream_;
  cuda_detail::Event legacy_done_;     // recorded on the legacy stream
  cuda_detail::Event caller_done_;     // recorded after our access to caller memory
  cuda_detail::Event staging_free_;    // the last copy out of the input staging buffer
  cuda_detail::PinnedMemory staging_;  // staging_floats_ floats, then a StepState
  size_t staging_floats_ = 0;
  // input_staging_floats_ floats of caller rows, grown on use up to
  // input_staging_limit_ (a whole batch) by input_staging().
  mutable cuda_detail::PinnedMemory input_staging_;
  mutable size_t input_staging_floats_ = 0;
  size_t input_staging_limit_ = 1;
  float* input_staging(size_t floats) const;
  cuda_detail::DeviceMemory arena_;
  cuda_detail::DeviceMemory eval_arena_;
  void* gemm_workspace_ = nullptr;
  size_t gemm_workspace_bytes_ = 0;
  StepState* step_state_ = nullptr;  // in the arena
  StepSettings* settings_ = nullptr;  // in the arena: the live values kernels read
  double* check_squares_ = nullptr;   // in the arena: the finite check's block sums of g^2
  mutable unsigned int check_blocks_ = 0;  // ... how many the last check wrote
  StepSettings host_settings_{};      // what was last written there
  // The options whose change drops the captured steps.
  struct CapturedOptions {
    int64_t tf32 = 0, objective = 0, update = 0, rank = 0, world_size = 0;
    bool operator==(const CapturedOptions& o) const {
      return tf32 == o.tf32 && objective == o.objective && update == o.update &&
             rank == o.rank && world_size == o.world_size;
    }
  };
  CapturedOptions captured_options_{};
  // The live settings, written to the device in stream order.
  void upload_settings(const StepSettings& s);
  // settings_ where the value a caller passes is the live one, else null
  // (the kernel then takes the value).
  const StepSettings* live_for_beta(double beta) const;
  float* column_scratch_ = nullptr;  // [kMaxColumnChunks + 1, widest] for the column sums
  cuda_detail::LtHandle lt_;
  cuda_detail::BlasHandle blas_;
  std::unique_ptr<cuda_detail::GemmCache> gemm_cache_;
  std::unique_ptr<cuda_detail::StepGraphs> graphs_;
};

}  // namespace vae
