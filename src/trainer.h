// The object behind vae_trainer: configuration, counters and the
// backend-independent rules of the C API (argument checks, chunking, the
// all-or-nothing step). The backends implement the virtual primitives.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "allreduce_hook.h"
#include "batch_share.h"
#include "checkpoint.h"
#include "config.h"
#include "counters.h"
#include "dataset.h"
#include "evaluation.h"
#include "model_math.h"
#include "refinement.h"
#include "shared_step.h"
#include "step_state.h"

namespace vae {

// Which of the flat float buffers of the same layout.
enum class StateBuffer { kParameters, kAdamFirstMoment, kAdamSecondMoment };

// What is wrong with `value` as an element of buffer `which` ("is not
// finite", "is negative"), or null when nothing is: parameters and Adam's
// first moments must be finite, its second moments finite and non-negative.
// vae_set_parameters and checkpoints hold values to the same rule.
const char* state_value_problem(StateBuffer which, float value);

class Trainer {
 public:
  explicit Trainer(const Config& config) : config_(config) {}
  virtual ~Trainer() = default;
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Builds the trainer of config.backend (AUTO: CUDA where a GPU is present).
  static std::unique_ptr<Trainer> create(const Config& config);

  const Config& config() const { return config_; }
  // The counters; waits for the steps queued so far.
  Counters counters() const;
  void set_counters(const Counters& c);
  int64_t parameter_count() const;

  void set_int(int option, int64_t value);
  void set_float(int option, double value);
  int64_t get_int(int option) const;
  double get_float(int option) const;
  // The caller's CUDA stream (NULL: the trainer's own); UNSUPPORTED on the CPU.
  virtual void set_cuda_stream(void* stream) = 0;

  // The C API's calls; each checks its arguments and changes nothing on
  // failure. `condition`: the rows' conditions (n x VAE_OPT_CONDITION_DIM),
  // which a conditional model needs and any other refuses (the _rows calls
  // of vae.h).
  void train_step(const float* x, int64_t n, float* loss, const float* condition = nullptr);
  void evaluate(const float* x, int64_t n, float* elbo, float* reconstruction, float* kl,
                const float* condition = nullptr);
  void log_likelihood(const float* x, int64_t n, int32_t k, int estimator, float* log_px,
                      const float* condition = nullptr);
  void encode(const float* x, int64_t n, float* mu, float* logvar,
              const float* condition = nullptr);
  void decode(const float* z, int64_t n, float* mean, const float* condition = nullptr);
  void sample(int64_t n, float* mean, const float* condition = nullptr);
  // vae_refine_posterior; any output may be null (the C API checks that not all are).
  void refine_posterior(const float* x, int64_t n, const RefineSettings& s, float* mu,
                        float* logvar, float* elbo_encoder, float* elbo_refined,
                        const float* condition = nullptr);
  void get_parameters(float* out, int64_t count) const;
  void set_parameters(const float* in, int64_t count);
  void save(const std::string& path) const;
  static std::unique_ptr<Trainer> load(const std::string& path, int backend);
  // vae_load_config: the caller's choices of what is not the model replace
  // the file's (checkpoint.h).
  static std::unique_ptr<Trainer> load(const std::string& path, const LoadChoices& choices);

  std::unique_ptr<Dataset> create_dataset(const float* x, int64_t n);
  std::unique_ptr<Dataset> create_dataset(const uint8_t* y, int64_t n, int transform);
  // vae_dataset_set_conditions (floats, n x C) and vae_dataset_set_labels
  // (bytes below C, one-hot as used); ds keeps what it had on failure.
  void set_dataset_conditions(Dataset& ds, const float* condition, int64_t n);
  void set_dataset_labels(Dataset& ds, const uint8_t* labels, int64_t n);
  void train_epoch(Dataset& ds, int64_t batch, float* mean_loss);
  void set_progress(vae_progress_fn fn, void* user_data) {
    progress_ = fn;
    progress_user_data_ = user_data;
  }
  // Asks the long call running (train_epoch, evaluate_dataset,
  // log_likelihood_dataset) to stop at its next check (vae.h,
  // vae_interrupt); any thread, and signal handlers, may call it.
  void interrupt() noexcept { interrupt_requested_.store(true, std::memory_order_relaxed); }
  // Sets (fn not null) or clears the hook that sums each step across ranks.
  void set_allreduce(vae_allreduce_fn fn, void* user_data);
  // The caller's code the trainer is running on this thread, named for
  // messages ("the allreduce hook", "the progress callback of
  // vae_train_epoch", ...), or null when none runs (trainer_reentry.cpp).
  // While one runs, vae_destroy and vae_dataset_destroy of the trainer's
  // datasets do nothing.
  const char* callback_running() const;
  // Throws Error(INVALID_ARGUMENT) naming `call` while the allreduce hook
  // runs: the step is half done, so every call on the trainer but
  // vae_interrupt and the option reads is refused (vae.h).
  void check_not_in_hook(const char* call) const;
  void evaluate_dataset(const Dataset& ds, double* elbo, double* reconstruction, double* kl);
  void log_likelihood_dataset(const Dataset& ds, int32_t k, int estimator, double* mean);
  // vae_log_likelihood_stats and its dataset form (trainer_likelihood_stats.cpp).
  void log_likelihood_stats(const float* x, int64_t n, const vae_likelihood_options* options,
                            const vae_likelihood_rows* out, const float* condition = nullptr);
  void log_likelihood_stats_dataset(const Dataset& ds, const vae_likelihood_options* options,
                                    vae_likelihood_summary* out);
  // vae_latent_usage (trainer_latent_usage.cpp).
  void latent_usage(const Dataset& ds, const vae_latent_usage_options* options,
                    vae_latent_usage_result* out);

  // One step whose reparameterization noise eps ([n * samples, latent], rows
  // k*n + i) is given: for tests that compare backends and check gradients.
  void train_step_with_noise(const float* x, int64_t n, const float* eps, float* loss,
                             const float* condition = nullptr);
  // Loss and gradient over every parameter (no update) under the given noise.
  double loss_and_gradient(const float* x, int64_t n, const float* eps,
                           std::vector<double>* gradient, const float* condition = nullptr);

  // A whole state buffer as host floats, and back.
  virtual std::vector<float> read_state(StateBuffer which) const = 0;
  virtual void write_state(StateBuffer which, const std::vector<float>& values) = 0;

 protected:
  // The most rows one call takes (the calls other than a step work in chunks).
  static constexpr int64_t kMaxRows = int64_t{1} << 40;

  // Whether the backend holds data in GPU memory (pointers may then be
  // host or device memory).
  virtual bool device_backend() const = 0;
  // Applies the live options (threads, TF32) of `config` to the backend;
  // throws, leaving the backend as it was, when they cannot be applied.
  virtual void apply_options(const Config& config) = 0;

  // Where the n rows of the next primitive come from: the caller's x (host
  // or device memory; `first` is the caller's index of its first row, for
  // messages), or rows first.. of a dataset transformed with the noise
  // `bytes`.
  struct Input {
    const float* x = nullptr;
    const float* condition = nullptr;  // with x, for a conditional model: the rows' conditions
    const Dataset* dataset = nullptr;
    int64_t first = 0;
    NoiseKey bytes{};
    bool step = false;  // rows of a training step: a device-side verdict stays with the step
  };
  // Copies n input rows into the workspace; throws Error(INVALID_ARGUMENT)
  // naming the row and column of a caller's value that is not finite, or for
  // the Bernoulli likelihood outside [0, 1].
  virtual void stage_input(const Input& in, int64_t n) = 0;
  // One training step to queue.
  struct StepPlan {
    const float* x = nullptr;        // the caller's rows, or (x null)
    const float* condition = nullptr;  // with x, for a conditional model: the rows' conditions
    const Dataset* epoch = nullptr;  // the next rows of the dataset's epoch order
    int64_t rows = 0;                // this process's rows (0: an empty part of a shared batch)
    const float* eps = nullptr;      // injected noise (tests), else drawn with the step counter
    // Set when ranks share the step (an allreduce hook is set):
    bool shared = false;
    int64_t world = 1;               // the ranks sharing it
    BatchShare share;                // where this rank's rows sit in the batch
    bool refused = false;            // this rank refused its part: it takes part with no rows
    StepVote vote{};                 // what the ranks must agree on (step_vote.h)
    bool stop = false;               // this rank asks the ranks to stop the epoch (vae_interrupt)
  };
  // Queues one training step. A shared step sums its gradient across the
  // ranks with the hook (whose failure throws, the step changing nothing),
  // and a rank whose rows are refused as they are copied still takes part
  // with none: the refusal is returned, to be thrown once the step is
  // counted; null otherwise.
  virtual std::exception_ptr enqueue_step(const StepPlan& plan) = 0;
  // Forward, loss and backward of the staged rows under injected noise,
  // without an update; returns the mean loss (tests).
  virtual float forward_backward(int64_t n) = 0;
  // The step state, after the steps queued so far; and the last step's loss.
  virtual StepState read_step_state() const = 0;
  virtual void write_step_state(const StepState& s) = 0;
  virtual float read_loss() const = 0;
  // Refuses element `index` of a step's n rows of x, which the device's
  // input check refused (VAE_ERROR_INVALID_ARGUMENT naming row and column).
  [[noreturn]] virtual void refuse_step_input(const float* x, int64_t n, uint64_t index) const = 0;
  // Draws this epoch's permutation of the dataset's rows and starts the
  // epoch's position and loss sums.
  virtual void begin_epoch(Dataset& ds, const NoiseKey& key) = 0;
  // The evaluation calls (src/evaluation.h): the sizes of a call over n rows
  // with k samples each; readying the evaluation workspace for them (throws,
  // changing nothing, when memory cannot be had); and one chunk: stages its
  // rows from `in` (positioned at the chunk's first_row), draws its noise
  // from `key`, and writes the results of the rows that end in it, row r's
  // at out[m] + (r - out_base) for each out[m] not null (kPrior and
  // kImportance: out[0] = log p(x); kElbo: elbo, reconstruction, KL).
  virtual EvalPlan evaluation_plan(int64_t n, int64_t k) const = 0;
  virtual void begin_evaluation(const EvalPlan& plan) = 0;
  virtual void evaluate_chunk(const Input& in, const EvalChunk& c, EvalMode mode,
                              const NoiseKey& key, float* const out[3], int64_t out_base) = 0;
  virtual void encode_rows(int64_t n, float* mu, float* logvar) = 0;
  // vae_refine_posterior: the rows a chunk takes (0: one row's samples per
  // step do not fit the workspace), and one chunk staged in the workspace
  // (src/posterior_refiner.h).
  virtual int64_t refine_chunk_rows(const RefineSettings& s) const = 0;
  virtual void refine_rows(const RefineChunk& c, const RefineSettings& s,
                           const std::function<void()>& between_steps, float* mu, float* logvar,
                           double* elbo_encoder, double* elbo_refined) = 0;
  // Decodes `rows` latent rows: the caller's z (rows first.. of its array;
  // a value that is not finite is refused), or draws from p(z) with prior;
  // for a conditional model, under the caller's conditions (the same rows
  // of its array).
  virtual void decode_rows(const float* z, int64_t first, int64_t rows, const NoiseKey* prior,
                           const float* condition, float* mean) = 0;
  virtual void copy_gradient(std::vector<double>* gradient) const = 0;
  virtual void upload_noise(const float* eps, int64_t count) = 0;
  virtual std::unique_ptr<Dataset> make_dataset(const void* data, int64_t n, bool bytes,
                                                int transform) = 0;
  // Gives ds the conditions of its rows, host memory checked by the caller:
  // floats [rows, C] or labels [rows] below C; throws, ds unchanged, when
  // memory cannot be had.
  virtual void set_conditions(Dataset& ds, const float* floats, const uint8_t* labels) = 0;
  // Copies between host floats and a caller's (host or device) array.
  virtual void copy_to_caller(float* dst, const float* host, size_t count) const = 0;
  virtual void copy_from_caller(float* host, const float* src, size_t count) const = 0;

  // Checks a caller's data pointer: not null, and host memory on the CPU backend.
  void check_pointer(const void* p, const char* name) const;
  // Inline, like every member the backends' TrainerImpl calls: the CUDA
  // module links none of this class's out-of-line code (src/cuda_module.h).
  NoiseKey key(NoiseStream stream, int64_t counter, int64_t offset = 0) const {
    return NoiseKey{static_cast<uint64_t>(config_.seed), static_cast<uint64_t>(counter), stream,
                    static_cast<uint64_t>(offset)};
  }

  Config config_;
  int64_t epochs_ = 0;  // Counters::epochs
  int64_t draws_ = 0;   // Counters::draws
  AllreduceHook allreduce_;

 private:
  vae_progress_fn progress_ = nullptr;
  void* progress_user_data_ = nullptr;

  void check_rows(int64_t n, int64_t limit, const char* name) const;
  void check_outputs(std::initializer_list<const void*> outputs) const;
  void check_estimator(int estimator) const;
  void check_samples(int32_t k) const;
  void check_dataset(const Dataset& ds) const;
  // Throws Error(INVALID_ARGUMENT) unless a conditional model's `call` has
  // the rows' conditions and any other's has none.
  void check_condition(const float* condition, const char* call) const;
  // Throws ... unless n rows of conditions fit ds (and the model takes them).
  void check_dataset_conditions(const Dataset& ds, const void* values, int64_t n,
                                const char* name) const;
  // Whether a progress callback runs after part `done` (1-based) of `parts`
  // of a call: at most 65 times a call.
  static bool progress_due(int64_t done, int64_t parts);
  // One evaluation call over n rows with k samples each, of the caller's x
  // or of ds: writes each row's results into out (caller arrays, rows from
  // 0), or with ds adds them into sums[m] for each out[m] not null and
  // reports progress. With a sink, the results of each chunk's done rows
  // (rows first.., count of them; results[m] for each out[m] not null, host
  // floats) go to the sink instead, and with `active` only the chunks that
  // hold a row r with (*active)[r] != 0 run (the others' rows are not
  // computed). progress_rows, when set, gives the progress callback's rows
  // done and their sum of out[0] instead of the chunks'.
  struct EvalCall {
    const float* x = nullptr;
    const float* condition = nullptr;  // with x, for a conditional model
    const Dataset* dataset = nullptr;
    int64_t n = 0;
    int64_t k = 0;
    EvalMode mode = EvalMode::kElbo;
    float* out[3] = {};
    double* sums = nullptr;
    const char* name = "";  // the C API's name of the call
    const std::vector<char>* active = nullptr;
    std::function<void(int64_t first, int64_t count, const float* const results[3])> sink;
    std::function<int64_t(double* sum)> progress_rows;
  };
  // A whole call: run_chunks within one interrupt window, then counts one
  // noise draw.
  void run_evaluation(const EvalCall& call);
  // The chunks of a call under the current draw counter, which it leaves as
  // it is (calls of several rounds run it once per round).
  void run_chunks(const EvalCall& call);
  // The rounds of vae_log_likelihood_stats (trainer_likelihood_stats.cpp):
  // each row's log p^, standard error, ESS and K into sink(row, values).
  struct RowStats {
    float log_px, std_error, ess;
    int32_t k;
  };
  void likelihood_rounds(const float* x, const float* condition, const Dataset* ds, int64_t n,
                         const vae_likelihood_options& o, const char* name,
                         const std::function<void(int64_t row, const RowStats& s)>& sink,
                         const std::function<int64_t(double* sum)>& progress_rows);
  void check_likelihood_options(const vae_likelihood_options* o, const char* name) const;
  void check_latent_usage_arguments(const vae_latent_usage_options* o,
                                    const vae_latent_usage_result* out) const;
  // Throws Error(INVALID_ARGUMENT) when an evaluation's noise indices, n k
  // latent_dim, would reach 2^62.
  void check_pairs(int64_t n, int64_t k) const;
  double discrete_offset(const Dataset& ds) const;
  // Reports the steps skipped since the last report (VAE_ERROR_NUMERICAL,
  // naming the call: `what`, or the epoch just counted when epoch_steps > 0)
  // from the state read after them. Allocates only to report.
  void report_skipped(const StepState& s, const char* what, int64_t epoch_steps);
  // The skipped steps of s count as reported (a refusal reports its own).
  void note_reported(const StepState& s);
  int64_t reported_skipped_ = 0;
  int64_t reported_disagreed_ = 0;  // StepState::disagreed_steps when last reported
  int64_t reported_refused_ = 0;    // StepState::refused_steps when last reported
  int64_t reported_overrun_ = 0;    // StepState::overrun_steps when last reported

  // Ranks sharing steps (trainer_shared.cpp). Whether they do: a hook is
  // set; without one, a world size above 1 is refused (`call` names it).
  bool shares_steps(const char* call) const;
  // A vae_train_step that ranks share: every rank passes the same n. A rank
  // whose x or n is refused still takes part, with no rows; the refusal is
  // returned, to be thrown once the step is counted.
  std::exception_ptr plan_shared_step(const float* x, const float* condition, int64_t n,
                                      StepPlan* plan) const;
  // The caller's conditions from row `first` on (null stays null).
  const float* condition_rows(const float* condition, int64_t first) const {
    return condition != nullptr ? condition + first * config_.condition_dim : nullptr;
  }
  // Step `step` of an epoch over ds in shared batches of `batch` rows, the
  // batch of this step having `rows` rows.
  void plan_epoch_step(const Dataset& ds, int64_t batch, int64_t step, int64_t rows,
                       int64_t world, StepPlan* plan) const;
  // Reports the shared steps the ranks disagreed about since the last
  // report (VAE_ERROR_INVALID_ARGUMENT), if any.
  void report_overrun(const StepState& s, const std::string& what);
  void report_disagreement(const StepState& s, const std::string& what);
  // At least the step counters of the backend's state (the counts when last
  // set, plus the steps queued since), so their limit is checked without
  // waiting for the device; advance_step_bounds counts `steps` queued steps.
  int64_t steps_bound_ = 0, encoder_bound_ = 0, decoder_bound_ = 0;
  void advance_step_bounds(int64_t steps);
  // Set while vae_train_epoch runs: its progress callback may not train.
  bool in_epoch_ = false;
  // Set by interrupt(); cleared when a long call begins and when it returns
  // (InterruptWindow). The rest is in trainer_interrupt.cpp.
  std::atomic<bool> interrupt_requested_{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "vae_interrupt must be signal-safe");
  // Throws Error(VAE_ERROR_INTERRUPTED) naming the call when interrupt()
  // has been called: `done` of `total` rows were done (and, rows_written,
  // their outputs written to the caller's arrays).
  void stop_if_interrupted(const char* call, int64_t done, int64_t total,
                           bool rows_written = false) const;
  bool epoch_interrupted() const;
  // Ends an epoch interrupted before step `step` of `steps`: waits for the
  // steps queued, resets the epoch's position and loss sums, and throws
  // Error(VAE_ERROR_INTERRUPTED); `where` tells, for an epoch shared by
  // ranks, on how many of them vae_interrupt was called.
  [[noreturn]] void stop_epoch(int64_t step, int64_t steps, const std::string& where);
  void check_not_in_epoch(const char* call) const;
  // The evaluation call whose progress callback is running, or null: the
  // callback may not change the trainer or draw noise (the call's chunks
  // after it would see the change).
  const char* in_evaluation_callback_ = nullptr;
  void check_not_in_evaluation(const char* call) const;
  template <class Set>
  void change_option(int option, Set&& set);
  // Throw Error(VAE_ERROR_UNSUPPORTED), changing nothing, when `steps` more
  // steps, or one more noise draw, would take a counter past kMaxCounter.
  void check_step_room(int64_t steps) const;
  void check_draw_room() const;
};

}  // namespace vae
