#include "cuda/cuda_ops.h"

#include <string>
#include <utility>

#include "activation.cuh"
#include "bytes.cuh"
#include "input_check.cuh"
#include "cuda/cuda_check.h"
#include "error.h"
#include "evaluation.cuh"
#include "latent.cuh"
#include "likelihood.cuh"
#include "prior.cuh"
#include "objective.cuh"
#include "reductions.cuh"
#include "shared_step.cuh"
#include "step.cuh"
#include "cuda/cuda_gemm_plans.h"
#include "cuda/cuda_graphs.h"
#include "cuda/device_dataset.h"

namespace vae {

namespace cuda_detail {

void DeviceFree::operator()(void* p) const noexcept { static_cast<void>(cudaFree(p)); }
void PinnedFree::operator()(void* p) const noexcept { static_cast<void>(cudaFreeHost(p)); }
void StreamDestroy::operator()(cudaStream_t s) const noexcept {
  static_cast<void>(cudaStreamDestroy(s));
}
void BlasDestroy::operator()(cublasHandle_t h) const noexcept {
  static_cast<void>(cublasDestroy(h));
}
void LtDestroy::operator()(cublasLtHandle_t h) const noexcept {
  static_cast<void>(cublasLtDestroy(h));
}
void EventDestroy::operator()(cudaEvent_t e) const noexcept {
  static_cast<void>(cudaEventDestroy(e));
}

DeviceMemory device_allocate(size_t bytes, const char* what) {
  void* p = nullptr;
  check_cuda(cudaMalloc(&p, bytes > 0 ? bytes : 1), what);
  return DeviceMemory(p);
}


}  // namespace cuda_detail

using cuda_detail::check_cublas;
using cuda_detail::check_cuda;
using cuda_detail::check_lt;

namespace {

// cuBLAS's recommended workspace on Hopper; shared by cuBLASLt and the
// cublasSgemm fallback, which run in order on the one stream.
constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;
// Floats of the pinned staging buffer (copy_to_host works in chunks of it).
constexpr size_t kStagingFloats = size_t{1} << 16;
constexpr size_t kArenaAlignment = 256;

size_t round_up(size_t bytes) {
  return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

cuda_detail::Event make_event() {
  cudaEvent_t e = nullptr;
  check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  return cuda_detail::Event(e);
}

}  // namespace

namespace {

StepSettings settings_of(const Config& c) {
  StepSettings s{};
  s.adam = c.adam_settings();
  s.beta = c.kl_weight;
  return s;
}

}  // namespace

CudaOps::CudaOps(const Config& config)
    : device_(static_cast<int>(config.device)),
      widest_(ParameterLayout(config).widest),
      compute_(config.tf32 != 0 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F),
      gemm_cache_(std::make_unique<cuda_detail::GemmCache>()),
      graphs_(std::make_unique<cuda_detail::StepGraphs>()) {
  host_settings_ = settings_of(config);
  captured_options_ = CapturedOptions{config.tf32, config.objective, config.update, config.rank,
                                      config.world_size};
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  check_cuda(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_),
             "cudaDeviceGetAttribute");
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
             "cudaStreamCreateWithFlags");
  stream_.reset(stream);
  legacy_done_ = make_event();
  caller_done_ = make_event();
  staging_free_ = make_event();
  void* staging = nullptr;
  check_cuda(cudaMallocHost(&staging, kStagingFloats * sizeof(float) + sizeof(StepState)),
             "cudaMallocHost");
  staging_.reset(staging);
  staging_floats_ = kStagingFloats;
  // The caller rows' staging buffer is pinned as the calls need it (up to
  // a whole batch), not here: max_batch x input_dim floats may be gigabytes.
  input_staging_limit_ = std::max<size_t>(static_cast<size_t>(config.max_batch * config.input_dim), 1);
  cublasLtHandle_t lt = nullptr;
  check_lt(cublasLtCreate(&lt), "cublasLtCreate");
  lt_.reset(lt);
  cublasHandle_t blas = nullptr;
  check_cublas(cublasCreate(&blas), "cublasCreate");
  blas_.reset(blas);
  check_cublas(cublasSetStream(blas, stream), "cublasSetStream");
  check_cublas(cublasSetMathMode(blas, config.tf32 != 0 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                        : CUBLAS_DEFAULT_MATH),
               "cublasSetMathMode");
}

CudaOps::~CudaOps() {
  // Let queued work finish before its memory goes (errors ignored: a
  // destructor has no one to tell).
  static_cast<void>(cudaSetDevice(device_));
  static_cast<void>(cudaStreamSynchronize(stream()));
}

namespace {

size_t column_scratch_bytes(int64_t widest) {
  return round_up(sizeof(float) * (cuda::kMaxColumnChunks + 1) *
                  static_cast<size_t>(std::max<int64_t>(widest, 1)));
}

// The finite check's sums of squares, one per block.
size_t check_scratch_bytes() { return round_up(sizeof(double) * cuda::kMaxCheckBlocks); }

}  // namespace

// [cuBLASLt workspace | step state | step settings | the finite check's
// sums | column-sum scratch | the workspace's floats], each part 256-byte
// aligned.
size_t CudaOps::arena_bytes(size_t count, int64_t widest) {
  return kGemmWorkspaceBytes + round_up(sizeof(StepState)) + round_up(sizeof(StepSettings)) +
         check_scratch_bytes() + column_scratch_bytes(widest) +
         round_up(sizeof(float) * std::max<size_t>(count, 1));
}

float* CudaOps::allocate(size_t count) {
  if (arena_) fail(VAE_ERROR_INTERNAL, "CudaOps::allocate called twice");
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  const size_t total = arena_bytes(count, widest_);
  arena_ = cuda_detail::device_allocate(total, "cudaMalloc");
  char* base = static_cast<char*>(arena_.get());
  char* part = base;
  const auto take = [&part](size_t bytes) { return std::exchange(part, part + bytes); };
  gemm_workspace_ = take(kGemmWorkspaceBytes);
  gemm_workspace_bytes_ = kGemmWorkspaceBytes;
  step_state_ = reinterpret_cast<StepState*>(take(round_up(sizeof(StepState))));
  settings_ = reinterpret_cast<StepSettings*>(take(round_up(sizeof(StepSettings))));
  check_squares_ = reinterpret_cast<double*>(take(check_scratch_bytes()));
  column_scratch_ = reinterpret_cast<float*>(take(column_scratch_bytes(widest_)));
  float* floats = reinterpret_cast<float*>(part);
  // Zeroed like the CPU backend's arena, so nothing is ever read uninitialized.
  check_cuda(cudaMemsetAsync(base, 0, total, stream()), "cudaMemsetAsync");
  check_cublas(cublasSetWorkspace(blas_.get(), gemm_workspace_, gemm_workspace_bytes_),
               "cublasSetWorkspace");
  upload_settings(host_settings_);
  synchronize();
  return floats;
}

void CudaOps::upload_settings(const StepSettings& s) {
  // From pageable memory: CUDA stages the copy before the call returns, so
  // s may go at once, and the copy runs in stream order after the steps
  // queued before it.
  check_cuda(cudaMemcpyAsync(settings_, &s, sizeof(StepSettings), cudaMemcpyHostToDevice,
                             stream()),
             "cudaMemcpyAsync");
  host_settings_ = s;
}

const StepSettings* CudaOps::live_for_beta(double beta) const {
  return beta == host_settings_.beta ? settings_ : nullptr;
}

int64_t CudaOps::graphs_captured() const { return graphs_->captured(); }

void CudaOps::apply_options(const Config& config) {
  const CapturedOptions captured{config.tf32, config.objective, config.update, config.rank,
                                 config.world_size};
  if (!(captured == captured_options_)) graphs_->clear();
  captured_options_ = captured;
  const StepSettings settings = settings_of(config);
  if (settings_ != nullptr &&
      (!(settings.adam == host_settings_.adam) || settings.beta != host_settings_.beta)) {
    begin_call();
    upload_settings(settings);
  }
  host_settings_ = settings;
  compute_ = config.tf32 != 0 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  check_cublas(cublasSetMathMode(blas_.get(), config.tf32 != 0 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                               : CUBLAS_DEFAULT_MATH),
               "cublasSetMathMode");
}

void CudaOps::set_stream(void* stream) {
  begin_call();
  auto* given = static_cast<cudaStream_t>(stream);
  if (given == cudaStreamLegacy) {
    invalid_argument("stream: the legacy default stream cannot be captured into graphs; pass "
                     "NULL (the trainer then orders itself against it) or another stream");
  }
  if (given != nullptr) {
    int device = -1;
    const cudaError_t status = cudaStreamGetDevice(given, &device);
    if (status != cudaSuccess) {
      static_cast<void>(cudaGetLastError());
      invalid_argument(std::string("stream: not a CUDA stream of this process (") +
                       cudaGetErrorString(status) + ")");
    }
    if (device != device_) {
      invalid_argument("stream: belongs to device " + std::to_string(device) +
                       ", the trainer to device " + std::to_string(device_));
    }
  }
  // The work queued so far finishes before the other stream takes over.
  synchronize();
  // cublasSetStream returns cuBLAS to its own workspace pool: point_blas_at
  // gives the arena's back, so nothing is allocated after allocate().
  point_blas_at(given != nullptr ? given : stream_.get());
  caller_stream_ = given;
}

void CudaOps::begin_call() const { check_cuda(cudaSetDevice(device_), "cudaSetDevice"); }

void CudaOps::after_caller_work() const {
  if (caller_stream_ != nullptr) return;
  check_cuda(cudaEventRecord(legacy_done_.get(), cudaStreamLegacy), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(stream_.get(), legacy_done_.get(), 0), "cudaStreamWaitEvent");
}

void CudaOps::before_caller_work() const {
  if (caller_stream_ != nullptr) return;
  check_cuda(cudaEventRecord(caller_done_.get(), stream_.get()), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(cudaStreamLegacy, caller_done_.get(), 0), "cudaStreamWaitEvent");
}

// ---------------------------------------------------------------------------
// The model's other primitives: one kernel each (kernels/*.cu).

void CudaOps::latent_forward(const float* mu_logvar, int64_t n, int64_t samples, int64_t latent,
                             const NoiseSource& noise, float* eps, float* z, float* kl,
                             float* kl_sample) const {
  check_cuda(cuda::launch_latent_forward(mu_logvar, n, samples, latent, noise, eps, z, kl,
                                         kl_sample, stream()),
             "latent_forward kernel");
}

void CudaOps::standard_normal(const NoiseKey& key, int64_t count, float* out) const {
  check_cuda(cuda::launch_standard_normal(key, count, out, stream()), "standard_normal kernel");
}

void CudaOps::likelihood_forward(const Likelihood& lik, const float* learned_log_variance,
                                 const float* out, const float* x, int64_t rows, int64_t n,
                                 int64_t dim, float* nll, float* grad, float grad_scale) const {
  check_cuda(cuda::launch_likelihood_forward(lik, learned_log_variance, out, x, rows, n, dim, nll,
                                             grad, grad_scale, stream()),
             "likelihood_forward kernel");
}

void CudaOps::combine_samples(int objective, int64_t n, int64_t samples, double beta,
                              const float* nll, const float* kl, const float* kl_sample,
                              float* weight, float* row_loss) const {
  check_cuda(cuda::launch_combine_samples(objective, n, samples, beta, live_for_beta(beta), nll,
                                          kl, kl_sample, weight,
                                          row_loss, stream()),
             "combine_samples kernel");
}

void CudaOps::likelihood_backward(const Likelihood& lik, const float* learned_log_variance,
                                  const float* out, const float* x, const float* weight,
                                  int64_t rows, int64_t n, int64_t mean_rows, int64_t dim,
                                  bool scale_rows, float* dout, float* d_log_variance) const {
  // The per-dimension sums over rows (the per-dimension gradient itself, or
  // for one shared scalar the last row of the scratch), then for the shared
  // scalar the sum of those: each in a fixed order.
  const bool shared = lik.variance == VAE_VARIANCE_LEARNED_SHARED;
  if (dim > widest_) fail(VAE_ERROR_INTERNAL, "likelihood_backward: dim exceeds the scratch");
  float* partial = column_scratch_;
  float* dimension_sums = column_scratch_ + cuda::kMaxColumnChunks * widest_;
  float* sums = d_log_variance == nullptr ? nullptr : shared ? dimension_sums : d_log_variance;
  check_cuda(cuda::launch_likelihood_backward(lik, learned_log_variance, out, x, weight, rows, n,
                                              mean_rows, dim, scale_rows, dout, partial, sums,
                                              sm_count_, stream()),
             "likelihood_backward kernel");
  if (d_log_variance != nullptr && shared) {
    check_cuda(cuda::launch_sum(dimension_sums, dim, 1.0f, d_log_variance, stream()),
               "sum kernel");
  }
}

void CudaOps::latent_backward(int objective, int64_t n, int64_t mean_rows, int64_t samples,
                              int64_t latent, double beta, const float* mu_logvar,
                              const float* eps, const float* z, const float* prior_grad,
                              const float* dz, const float* weight, float* d_mu_logvar) const {
  check_cuda(cuda::launch_latent_backward(objective, n, mean_rows, samples, latent, beta,
                                          live_for_beta(beta),
                                          mu_logvar, eps, z, prior_grad, dz, weight, d_mu_logvar,
                                          stream()),
             "latent_backward kernel");
}

void CudaOps::mean(const float* v, int64_t n, float* out) const {
  check_cuda(cuda::launch_sum(v, n, static_cast<float>(n), out, stream()), "sum kernel");
}

void CudaOps::begin_step() const {
  check_cuda(cudaMemsetAsync(&step_state_->bad, 0, sizeof(step_state_->bad), stream()),
             "cudaMemsetAsync");
}

void CudaOps::check_step(const float* loss, const float* g, size_t begin, size_t end) const {
  check_blocks_ = cuda::check_step_blocks(begin, end, sm_count_);
  check_cuda(cuda::launch_check_step(loss, g, begin, end, step_state_, check_squares_, sm_count_,
                                     stream()),
             "check_step kernel");
}

void CudaOps::begin_update(const AdamSettings& a) const {
  const StepSettings* live = a == host_settings_.adam ? settings_ : nullptr;
  check_cuda(cuda::launch_begin_update(step_state_, a, live, check_squares_, check_blocks_,
                                       stream()),
             "begin_update kernel");
}

void CudaOps::adam(float* p, const float* g, float* m, float* v, size_t begin, size_t split,
                   size_t end) const {
  check_cuda(cuda::launch_adam(p, g, m, v, begin, split, end, step_state_, sm_count_, stream()),
             "adam kernel");
}

void CudaOps::posterior_adam(float* p, const float* g, float* m, float* v, int64_t count,
                             const AdamStep& constants) const {
  check_cuda(cuda::launch_posterior_adam(p, g, m, v, count, constants, sm_count_, stream()),
             "posterior_adam kernel");
}

void CudaOps::end_step(int update, int64_t rows, const float* loss, bool epoch) const {
  check_cuda(cuda::launch_end_step(step_state_, update, rows, loss, epoch, stream()),
             "end_step kernel");
}

void CudaOps::write_share_tail(const float* row_loss, int64_t n, bool refused, bool stop,
                               const StepVote& vote, float* tail) const {
  check_cuda(cuda::launch_write_share_tail(row_loss, n, refused, stop, vote, step_state_, tail,
                                           stream()),
             "write_share_tail kernel");
}

void CudaOps::accept_share_tail(const float* tail, int64_t world, int64_t batch_rows,
                                float* loss) const {
  check_cuda(cuda::launch_accept_share_tail(step_state_, tail, world, batch_rows, loss, stream()),
             "accept_share_tail kernel");
}

void CudaOps::begin_epoch() const {
  // cursor, loss_rows and loss_sum are the state's last three members.
  char* first = reinterpret_cast<char*>(&step_state_->cursor);
  const size_t bytes = sizeof(StepState) - offsetof(StepState, cursor);
  check_cuda(cudaMemsetAsync(first, 0, bytes, stream()), "cudaMemsetAsync");
  // The epoch's rows were checked when the dataset was made.
  check_cuda(cuda::launch_reset_refusal(step_state_, stream()), "cudaMemsetAsync");
}

StepState CudaOps::read_step_state() const {
  begin_call();
  auto* host = reinterpret_cast<StepState*>(static_cast<float*>(staging_.get()) + staging_floats_);
  check_cuda(cudaMemcpyAsync(host, step_state_, sizeof(StepState), cudaMemcpyDeviceToHost,
                             stream()),
             "cudaMemcpyAsync");
  synchronize();
  return *host;
}

void CudaOps::write_step_state(const StepState& s) const {
  begin_call();
  auto* host = reinterpret_cast<StepState*>(static_cast<float*>(staging_.get()) + staging_floats_);
  synchronize();  // the staging copy may still be read by an earlier transfer
  *host = s;
  check_cuda(cudaMemcpyAsync(step_state_, host, sizeof(StepState), cudaMemcpyHostToDevice,
                             stream()),
             "cudaMemcpyAsync");
  synchronize();
}

float CudaOps::read_value(const float* p) const { return *download(p, 1); }

void CudaOps::point_blas_at(cudaStream_t s) const {
  check_cublas(cublasSetStream(blas_.get(), s), "cublasSetStream");
  if (gemm_workspace_ != nullptr) {
    check_cublas(cublasSetWorkspace(blas_.get(), gemm_workspace_, gemm_workspace_bytes_),
                 "cublasSetWorkspace");
  }
}

void CudaOps::run_captured(const StepGraph& graph, const std::function<void()>& enqueue) const {
  // Captured on the trainer's own non-blocking stream even when the caller
  // gave one: a blocking stream under capture would make another thread's
  // use of the legacy stream invalidate it (cudaErrorStreamCaptureImplicit).
  const auto enqueue_on_own_stream = [&] {
    if (caller_stream_ == nullptr) {
      enqueue();
      return;
    }
    struct Restore {
      const CudaOps& ops;
      ~Restore() {
        ops.capturing_ = false;
        static_cast<void>(cublasSetStream(ops.blas_.get(), ops.caller_stream_));
        if (ops.gemm_workspace_ != nullptr) {
          static_cast<void>(
              cublasSetWorkspace(ops.blas_.get(), ops.gemm_workspace_, ops.gemm_workspace_bytes_));
        }
      }
    };
    capturing_ = true;
    const Restore restore{*this};
    point_blas_at(stream_.get());
    enqueue();
  };
  graphs_->run(graph, stream_.get(), stream(), enqueue, enqueue_on_own_stream);
}

void CudaOps::output_mean(const Likelihood& lik, const float* out, int64_t rows, int64_t dim,
                          float* mean) const {
  check_cuda(cuda::launch_output_mean(lik, out, rows, dim, mean, stream()), "output_mean kernel");
}

// ---------------------------------------------------------------------------
// Evaluation.

float* CudaOps::reserve_evaluation(size_t count) {
  begin_call();
  cuda_detail::DeviceMemory larger =
      cuda_detail::device_allocate(sizeof(float) * std::max<size_t>(count, 1), "cudaMalloc");
  check_cuda(cudaMemsetAsync(larger.get(), 0, sizeof(float) * count, stream()),
             "cudaMemsetAsync");
  synchronize();  // nothing queued still uses the old workspace
  eval_arena_ = std::move(larger);
  return static_cast<float*>(eval_arena_.get());
}

void CudaOps::release_evaluation() {
  if (!eval_arena_) return;
  begin_call();
  synchronize();  // nothing queued still uses it
  eval_arena_.reset();
}

void CudaOps::encode_tiles(const EvalModel<float>& m, const float* x, int64_t rows,
                           const std::vector<float*>& enc_out) const {
  const std::vector<LinearLayer>& layers = m.layout->encoder;
  const float* in = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    linear_forward(layers[l], m.params, in, enc_out[l], rows);
    in = enc_out[l];
  }
}

void CudaOps::sample_values(const EvalModel<float>& m, const EvalChunk& c, EvalMode mode,
                            const NoiseKey& key, const EvalBuffers<float>& b) const {
  check_cuda(cuda::launch_eval_latent(mode, c, key, b.enc_out.back(), m.latent, b.eps, b.z,
                                      b.kl_sample, stream()),
             "eval_latent kernel");
  if (m.prior.learned()) {
    check_cuda(cuda::launch_eval_prior(mode, c, key, m.prior, b.enc_out.back(), b.eps, b.z,
                                       b.kl_sample, stream()),
               "eval_prior kernel");
  }
  const std::vector<LinearLayer>& layers = m.layout->decoder;
  const float* in = b.z;
  if (m.condition_dim > 0) {
    // Pair p of the chunk (pair first_pair + p = i K + s of the call)
    // takes data row i's condition, row i - first_row of the staged rows.
    ConditionRows by_data_row;
    by_data_row.offset = c.first_pair;
    by_data_row.divide = c.k;
    by_data_row.base = c.first_row;
    join_condition(b.z, m.latent, b.condition, m.condition_dim, by_data_row, c.pairs,
                   b.decoder_input);
    in = b.decoder_input;
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    linear_forward(layers[l], m.params, in, b.dec_out[l], c.pairs);
    in = b.dec_out[l];
  }
  check_cuda(cuda::launch_eval_values(m.likelihood, m.learned_log_variance, mode, c, in, b.x,
                                      m.dim, b.kl_sample, b.values, stream()),
             "eval_values kernel");
}

void CudaOps::accumulate_rows(const EvalModel<float>& m, const EvalChunk& c, EvalMode mode,
                              const EvalBuffers<float>& b) const {
  check_cuda(cuda::launch_eval_accumulate(mode, c, b.values,
                                          m.prior.learned() ? b.kl_sample : nullptr,
                                          b.enc_out.back(), m.latent, b.carry,
                                          b.results[0], b.results[1], b.results[2], stream()),
             "eval_accumulate kernel");
}

void CudaOps::split_mu_logvar(const float* mu_logvar, int64_t n, int64_t latent, float* mu,
                              float* logvar) const {
  if (n <= 0 || latent <= 0) return;
  const size_t width = sizeof(float) * static_cast<size_t>(latent);
  const auto height = static_cast<size_t>(n);
  check_cuda(cudaMemcpy2DAsync(mu, width, mu_logvar, 2 * width, width, height,
                               cudaMemcpyDeviceToDevice, stream()),
             "cudaMemcpy2DAsync");
  check_cuda(cudaMemcpy2DAsync(logvar, width, mu_logvar + latent, 2 * width, width, height,
                               cudaMemcpyDeviceToDevice, stream()),
             "cudaMemcpy2DAsync");
}

void CudaOps::fill(float* p, int64_t count, float value) const {
  check_cuda(cuda::launch_fill(p, count, value, stream()), "fill kernel");
}

// ---------------------------------------------------------------------------
// Copies. The runtime tells host from device memory (unified addressing), so
// the caller's pointers may be either.

namespace {

// Memory the device reads in stream order: device, managed, or pinned host
// memory (which the caller may be filling with work queued on a stream).
bool stream_ordered_memory(const void* p) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, p) != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return false;
  }
  return attributes.type != cudaMemoryTypeUnregistered;
}

}  // namespace

void CudaOps::upload_from_caller(float* dst, const float* src, size_t count) const {
  if (count == 0) return;
  if (stream_ordered_memory(src)) {
    after_caller_work();
    check_cuda(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyDefault, stream()),
               "cudaMemcpyAsync");
    before_caller_work();
    return;
  }
  // Pageable host rows: copied into pinned memory here (so the caller may
  // reuse its array at once), then to the device asynchronously. The
  // staging buffer is reused only once the copy out of it before has run.
  const size_t chunk = std::min(count, input_staging_limit_);
  float* pinned = input_staging(chunk);
  for (size_t done = 0; done < count;) {
    const size_t part = std::min(count - done, chunk);
    check_cuda(cudaEventSynchronize(staging_free_.get()), "cudaEventSynchronize");
    std::copy(src + done, src + done + part, pinned);
    check_cuda(cudaMemcpyAsync(dst + done, pinned, sizeof(float) * part, cudaMemcpyHostToDevice,
                               stream()),
               "cudaMemcpyAsync");
    check_cuda(cudaEventRecord(staging_free_.get(), stream()), "cudaEventRecord");
    done += part;
  }
}

float* CudaOps::input_staging(size_t floats) const {
  if (floats > input_staging_floats_) {
    // The copies out of the old buffer run before it goes.
    check_cuda(cudaEventSynchronize(staging_free_.get()), "cudaEventSynchronize");
    input_staging_.reset();
    input_staging_floats_ = 0;
    void* grown = nullptr;
    check_cuda(cudaMallocHost(&grown, sizeof(float) * floats), "cudaMallocHost");
    input_staging_.reset(grown);
    input_staging_floats_ = floats;
  }
  return static_cast<float*>(input_staging_.get());
}

bool CudaOps::upload_checked_rows(float* dst, const CallerRows& rows) const {
  const auto count = static_cast<size_t>(rows.count());
  check_cuda(cuda::launch_reset_refusal(step_state_, stream()), "cudaMemsetAsync");
  if (count == 0) return false;
  if (stream_ordered_memory(rows.values)) {
    upload_from_caller(dst, rows.values, count);
    check_cuda(cuda::launch_input_check(dst, rows.count(), rows.bernoulli, step_state_, sm_count_,
                                        stream()),
               "input_check kernel");
    return true;
  }
  // Pageable host rows: checked as they are copied into the pinned staging
  // buffer, the one pass that reads them.
  const size_t chunk = std::min(count, input_staging_limit_);
  float* pinned = input_staging(chunk);
  for (size_t done = 0; done < count;) {
    const size_t part = std::min(count - done, chunk);
    check_cuda(cudaEventSynchronize(staging_free_.get()), "cudaEventSynchronize");
    CallerRows piece = rows;
    piece.values = rows.values + done;
    if (copy_finding_refused(piece, pinned, 0, static_cast<int64_t>(part))) {
      refuse_caller_rows(rows);
    }
    check_cuda(cudaMemcpyAsync(dst + done, pinned, sizeof(float) * part, cudaMemcpyHostToDevice,
                               stream()),
               "cudaMemcpyAsync");
    check_cuda(cudaEventRecord(staging_free_.get(), stream()), "cudaEventRecord");
    done += part;
  }
  return false;
}

void CudaOps::copy_to_caller(float* dst, const float* src, size_t count) const {
  if (count == 0) return;
  after_caller_work();
  check_cuda(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyDefault, stream()),
             "cudaMemcpyAsync");
  before_caller_work();
}

void CudaOps::copy_host_floats(float* dst, const float* src, size_t count) const {
  if (count == 0) return;
  after_caller_work();
  check_cuda(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyDefault, stream()),
             "cudaMemcpyAsync");
  before_caller_work();
  synchronize();
}

const float* CudaOps::download(const float* src, size_t count) const {
  auto* host = static_cast<float*>(staging_.get());
  if (count > 0) {
    check_cuda(cudaMemcpyAsync(host, src, sizeof(float) * count, cudaMemcpyDefault, stream()),
               "cudaMemcpyAsync");
  }
  synchronize();
  return host;
}

void CudaOps::synchronize() const {
  check_cuda(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
}

// ---------------------------------------------------------------------------
// Datasets.

std::unique_ptr<Dataset> CudaOps::make_dataset(const void* data, int64_t n, int64_t dim,
                                               bool bytes, bool bernoulli) const {
  begin_call();
  auto ds = std::make_unique<DeviceDataset>();
  const size_t rows = static_cast<size_t>(n);
  const size_t count = rows * static_cast<size_t>(dim);
  const size_t value_bytes = count * (bytes ? sizeof(uint8_t) : sizeof(float));
  ds->values = cuda_detail::device_allocate(value_bytes, "cudaMalloc");
  check_cuda(cuda::permutation_scratch_bytes(n, &ds->sort_scratch_bytes),
             "cub::DeviceRadixSort::SortPairs (scratch size)");
  // [order (n) | keys (2n) | rows_in (n) | sort scratch], all 8-byte values.
  const size_t order_bytes = sizeof(int64_t) * rows * 4;
  ds->permutation = cuda_detail::device_allocate(
      order_bytes + round_up(ds->sort_scratch_bytes), "cudaMalloc");
  auto* base = static_cast<char*>(ds->permutation.get());
  ds->order = reinterpret_cast<int64_t*>(base);
  ds->keys = reinterpret_cast<uint64_t*>(base + sizeof(int64_t) * rows);
  ds->rows_in = reinterpret_cast<int64_t*>(base + sizeof(int64_t) * rows * 3);
  ds->sort_scratch = base + order_bytes;
  if (value_bytes > 0) {
    after_caller_work();
    check_cuda(cudaMemcpyAsync(ds->values.get(), data, value_bytes, cudaMemcpyDefault, stream()),
               "cudaMemcpyAsync");
    before_caller_work();
  }
  check_cuda(cudaMemsetAsync(ds->order, 0, sizeof(int64_t) * rows, stream()), "cudaMemsetAsync");
  if (bytes) {
    ds->u8 = static_cast<const uint8_t*>(ds->values.get());
  } else {
    ds->floats = static_cast<const float*>(ds->values.get());
    check_cuda(cuda::launch_reset_refusal(step_state_, stream()), "cudaMemsetAsync");
    check_cuda(cuda::launch_input_check(ds->floats, static_cast<int64_t>(count), bernoulli,
                                        step_state_, sm_count_, stream()),
               "input_check kernel");
  }
  // The caller may change or free its data once this returns.
  synchronize();
  if (!bytes) {
    const StepState s = read_step_state();
    if (s.input_refused != 0) {
      CallerRows refused;
      refused.dim = dim;
      refused.bernoulli = bernoulli;
      const auto index = static_cast<int64_t>(s.refused_index);
      refuse_caller_value(refused, index, read_value(ds->floats + index));
    }
  }
  return ds;
}

void CudaOps::shuffle(Dataset& ds, const NoiseKey& key) const {
  auto& device = static_cast<DeviceDataset&>(ds);
  check_cuda(cuda::launch_permutation(key, ds.rows, device.keys, device.rows_in,
                                      device.sort_scratch, device.sort_scratch_bytes, ds.order,
                                      stream()),
             "epoch permutation");
}

void CudaOps::gather_rows(const Dataset& ds, int64_t first, int64_t n, const NoiseKey& bytes,
                          const StepState* epoch, float* x) const {
  cuda::GatherSource src;
  src.floats = ds.floats;
  src.u8 = ds.bytes ? ds.u8 : nullptr;
  src.order = epoch != nullptr ? ds.order : nullptr;
  src.dim = ds.dim;
  src.transform = ds.transform;
  check_cuda(cuda::launch_gather_rows(src, first, n, bytes, epoch, x, stream()),
             "gather_rows kernel");
}

}  // namespace vae
