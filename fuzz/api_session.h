// One run of fuzz_api_calls: a small CPU trainer built from the program's
// first bytes, then the program's calls on it, each checked against the C
// API's contract (vae.h): a call that fails returns a documented status with
// a message and changes nothing; a call that succeeds changes only what it
// is for (a step: the parameters, moments and step counters; an evaluation:
// the draw counter; a setter: its option; a getter or a save: nothing). A
// conditional trainer (VAE_OPT_CONDITION_DIM) takes its rows only through
// the _rows calls, and its datasets only once they hold conditions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api_program.h"
#include "fuzz_support.h"
#include "trainer_snapshot.h"
#include "vae/vae.h"

namespace vae_fuzz {

// p, or null where the program's null mask has bit `bit` set.
template <class T>
T* unless(unsigned mask, unsigned bit, T* p) {
  return (mask & (1u << bit)) != 0 ? nullptr : p;
}

class ApiSession {
 public:
  ApiSession(ByteReader& program, const ScratchDirectory& scratch);
  ~ApiSession();
  ApiSession(const ApiSession&) = delete;
  ApiSession& operator=(const ApiSession&) = delete;

  // Runs calls until the program ends or `max_calls` have run.
  void run(int max_calls);

 private:
  // What a successful call may change.
  // kLoaded: the trainer was replaced by the one its checkpoint loads.
  enum class Effect { kNothing, kOption, kDraw, kStep, kParameters, kEpoch, kLoaded };
  struct Dataset {
    vae_dataset* handle;
    vae_trainer* owner;
    int64_t rows;
    bool conditioned = false;  // its conditions or labels were set
  };
  struct Outcome {
    vae_status status = VAE_OK;
    Effect effect = Effect::kNothing;
    int option = 0;        // kOption: which
    int64_t steps = 0;     // kEpoch: the steps it takes
    const Dataset* dataset = nullptr;  // a dataset call's dataset
  };
  // The rows of a _rows call (vae_rows), and the buffers they point into.
  struct RowsArgument {
    std::vector<float> data, condition;
    vae_rows rows{};
    int64_t width = 0;  // data's columns: 0 for vae_sample_rows, which takes none
  };
  // What the progress callback may report next: an epoch's steps report
  // more rows each time and a finite mean loss; an evaluation's chunks
  // report rows that never go back (a row may span chunks), and a mean of
  // any value (an estimate may be -inf for a model that makes x impossible).
  struct ProgressLog {
    int64_t done = 0;
    int64_t total = 0;
    bool evaluation = false;
    vae_trainer* trainer = nullptr;
    int64_t interrupt_at = 0;      // the call that interrupts the epoch (0: none)
    int64_t calls = 0;
    int64_t interrupted_rows = -1;  // rows done when it interrupted (-1: it did not)
  };

  // The allreduce hook a program sets (vae_set_allreduce), as one rank of
  // world size 1 or of ranks that all do alike: what it does to the buffer
  // and returns, and the status its last call returned.
  // kOverrun writes past the buffer (into the guard after it, vae.h); kReenter
  // calls its own trainer (a step, vae_destroy, ...), which must refuse.
  enum class Hook { kSum, kDouble, kFail, kPoison, kGarbageTail, kOverrun, kReenter, kCount };
  // The tail's slot of the request to stop a shared epoch
  // (kernels/shared_step.h, kStopSlot).
  static constexpr std::size_t kStopSlot = 101;
  struct HookLog {
    Hook behaviour = Hook::kSum;
    int status = 0;             // kFail: what it returns
    int message = 0;            // kFail: no message, a text, or every byte without a NUL
    std::size_t position = 0;   // kPoison, kGarbageTail: which float (modulo the count)
    float value = 0;            // kPoison, kGarbageTail: its new value
    int last_status = 0;
    bool garbled_stop = false;  // kGarbageTail set the tail's request to stop
    bool overran = false;       // kOverrun wrote past the buffer in this call
    vae_trainer* trainer = nullptr;  // kReenter: the hook's own trainer
    int64_t dim = 0;                 // its input dimension
  };

  void build_trainer();
  void configure_randomly(vae_config* config);
  Outcome call(Op op);
  void check(Op op, const Outcome& outcome, const std::string& message, const Snapshot& before,
             const Snapshot& after) const;

  Outcome set_option(bool as_float);
  Outcome get_option(bool as_float);
  Outcome train_step();
  Outcome evaluate();
  Outcome log_likelihood();
  Outcome encode();
  Outcome decode();
  Outcome sample();
  Outcome get_parameters();
  Outcome set_parameters();
  Outcome parameter_count();
  Outcome save();
  Outcome load();
  Outcome load_damaged();
  Outcome create_dataset(bool bytes);
  Outcome destroy_dataset();
  Outcome dataset_size();
  Outcome train_epoch();
  Outcome evaluate_dataset();
  Outcome log_likelihood_dataset();
  Outcome set_progress();
  Outcome foreign_dataset();
  Outcome status_string();
  Outcome interrupt();
  Outcome set_allreduce();
  // The diagnostics (api_diagnostics.cpp).
  Outcome log_likelihood_stats();
  Outcome log_likelihood_stats_dataset();
  Outcome latent_usage();
  Outcome refine_posterior();
  vae_likelihood_options likelihood_options();
  vae_refine_options refine_options();
  // A conditional model's calls (api_conditions.cpp).
  Outcome train_step_rows();
  Outcome evaluate_rows();
  Outcome log_likelihood_rows();
  Outcome log_likelihood_stats_rows();
  Outcome encode_rows();
  Outcome decode_rows();
  Outcome sample_rows();
  Outcome refine_posterior_rows();
  Outcome set_dataset_conditions(bool labels);
  RowsArgument rows_argument(int64_t limit, int64_t width);
  const vae_rows* rows_with_nulls(RowsArgument& a, unsigned nulls) const;
  std::string rows_refusal(const vae_rows* rows, int64_t width, int64_t max_n,
                           bool values_checked) const;

  std::vector<float> floats(int64_t rows, int64_t width) {
    return program_.floats(static_cast<std::size_t>(rows * width));
  }
  Dataset* pick_dataset();
  int32_t pick_k();
  void destroy_datasets_of(const vae_trainer* owner);
  static void record_progress(void* log, int64_t done, int64_t total, double mean_loss);
  static void reenter(const HookLog& hook, std::size_t which);
  static int run_hook(void* log, float* buffer, int64_t count, int on_device, void* stream,
                      char* message, size_t message_size);

  ByteReader& program_;
  const ScratchDirectory& scratch_;
  vae_config* config_ = nullptr;
  vae_trainer* t_ = nullptr;
  vae_trainer* other_ = nullptr;  // owns the datasets of another trainer
  std::vector<Dataset> datasets_;
  ProgressLog progress_;
  int64_t interrupt_at_ = 0;  // ProgressLog::interrupt_at of the epochs to come
  HookLog hook_;
  bool hook_set_ = false;     // on t_
  int64_t dim_ = 0, latent_ = 0, max_batch_ = 0, parameters_ = 0, condition_dim_ = 0;
};

}  // namespace vae_fuzz
