/*
 * libvae: variational autoencoders trained on the GPU or the CPU, behind a C ABI.
 *
 * The only public header. C99; also compiles as C++.
 *
 * Conventions
 *   - Every function returns a vae_status; VAE_OK is 0. On failure the
 *     trainer is left exactly as it was, and vae_last_error() gives this
 *     thread's message naming the argument and the allowed range. Two
 *     statuses report training that did happen, as their functions say:
 *     VAE_ERROR_NUMERICAL (skipped steps) and VAE_ERROR_INTERRUPTED (an
 *     epoch stopped by vae_interrupt keeps the steps it took).
 *   - Arrays are row-major, one data point per row. On the CUDA backend a data
 *     pointer may be host or device memory; the CPU backend takes host memory.
 *   - Data is checked where it is first read, with no extra pass: a value of
 *     x (train step, evaluation, likelihoods, encoding, vae_dataset_create)
 *     or of z (vae_decode) that is not finite, or for the Bernoulli
 *     likelihood a value of x outside [0, 1], returns
 *     VAE_ERROR_INVALID_ARGUMENT naming its row, counted from the start of
 *     the caller's array, and its column. Nothing changes: no counter, no
 *     parameter (outputs of rows before it may have been written).
 *   - Running out of memory, a thread that cannot start included (vae_create,
 *     or VAE_OPT_THREADS on a live trainer), returns VAE_ERROR_OUT_OF_MEMORY;
 *     a live trainer keeps its threads and options. vae_create and vae_load
 *     compute the memory a configuration needs before they allocate any of
 *     it, and refuse with VAE_ERROR_OUT_OF_MEMORY naming both amounts one
 *     whose host memory exceeds what the machine can give (physical memory
 *     and swap, or the process's RLIMIT_AS or RLIMIT_DATA: the workspace is
 *     zero-filled, and an overcommitting host would otherwise end the
 *     process), or, on the CUDA backend, whose device workspace exceeds
 *     what the device has free (cudaMemGetInfo). The evaluation workspace
 *     (allocated by the first evaluation call) and datasets are allocated
 *     when made, and a failure there is VAE_ERROR_OUT_OF_MEMORY too.
 *   - Distinct trainers may be used from distinct threads at once; one trainer
 *     is used by one thread at a time.
 *
 * The model: an MLP encoder q(z|x) = N(mu(x), diag exp(logvar(x))), the prior
 * p(z) = N(0, I) or a learned mixture (VAE_OPT_PRIOR_COMPONENTS), an MLP decoder p(x|z) that is Bernoulli (logits) or Gaussian;
 * the loss per data point is -log p(x|z) + beta * KL(q || p), in nats.
 */
#ifndef VAE_VAE_H
#define VAE_VAE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define VAE_API
#elif defined(__GNUC__)
#  define VAE_API __attribute__((visibility("default")))
#else
#  define VAE_API
#endif

#define VAE_VERSION_MAJOR 0
#define VAE_VERSION_MINOR 3
#define VAE_VERSION_PATCH 0
#define VAE_VERSION (VAE_VERSION_MAJOR * 10000 + VAE_VERSION_MINOR * 100 + VAE_VERSION_PATCH)

typedef struct vae_config vae_config;   /* opaque builder of a model + training setup */
typedef struct vae_trainer vae_trainer; /* opaque: model, optimizer state, workspace  */
typedef struct vae_dataset vae_dataset; /* opaque: rows held by one trainer's backend */

typedef enum vae_status {
  VAE_OK = 0,
  VAE_ERROR_INVALID_ARGUMENT = 1,
  VAE_ERROR_OUT_OF_MEMORY = 2,
  VAE_ERROR_DEVICE = 3,
  VAE_ERROR_IO = 4,
  VAE_ERROR_FORMAT = 5,
  VAE_ERROR_NUMERICAL = 6,
  VAE_ERROR_UNSUPPORTED = 7,
  VAE_ERROR_INTERNAL = 8,
  VAE_ERROR_INTERRUPTED = 9 /* a long call stopped early at vae_interrupt */
} vae_status;

/* Options. "set on config" options fix the model's structure; those marked
 * "may change" can also be set on a live trainer with vae_set_int/float. */
typedef enum vae_option {
  VAE_OPT_INPUT_DIM = 1,     /* int, >= 1, default 784                                   */
  VAE_OPT_LATENT_DIM = 2,    /* int, >= 1, default 20                                    */
  VAE_OPT_MAX_BATCH = 3,     /* int, >= 1, default 128: rows per train step              */
  VAE_OPT_LIKELIHOOD = 4,    /* VAE_LIKELIHOOD_*, default BERNOULLI                      */
  VAE_OPT_VARIANCE = 5,      /* VAE_VARIANCE_* (Gaussian only), default FIXED            */
  VAE_OPT_LOG_VARIANCE = 6,  /* float, fixed or initial Gaussian log variance, default 0  */
  VAE_OPT_ACTIVATION = 7,    /* VAE_ACTIVATION_*, default RELU                           */
  VAE_OPT_BACKEND = 8,       /* VAE_BACKEND_*, default AUTO                              */
  VAE_OPT_DEVICE = 9,        /* int, CUDA device ordinal, default 0                      */
  VAE_OPT_SEED = 10,         /* int, >= 0, default 1                                     */
  VAE_OPT_LEARNING_RATE = 11,/* float, > 0, default 1e-3                    (may change) */
  VAE_OPT_ADAM_BETA1 = 12,   /* float, [0, 1), default 0.9                  (may change) */
  VAE_OPT_ADAM_BETA2 = 13,   /* float, [0, 1), default 0.999                (may change) */
  VAE_OPT_ADAM_EPSILON = 14, /* float, > 0, default 1e-8                    (may change) */
  VAE_OPT_KL_WEIGHT = 15,    /* float, >= 0, beta, default 1                (may change) */
  VAE_OPT_SAMPLES = 16,      /* int, [1, 4096], K samples per data point, default 1      */
  VAE_OPT_OBJECTIVE = 17,    /* VAE_OBJECTIVE_*, default ELBO               (may change) */
  VAE_OPT_UPDATE = 18,       /* VAE_UPDATE_*, default ALL                   (may change) */
  VAE_OPT_THREADS = 19,      /* int, [1, 256], CPU backend threads, default 1 (may change) */
  VAE_OPT_TF32 = 20,         /* int 0/1, CUDA GEMMs may use TF32, default 0 (may change) */
  /* Read-only counters, for vae_get_int: */
  VAE_OPT_STEPS = 21,        /* optimizer steps taken (train steps that succeeded)       */
  VAE_OPT_EPOCHS = 22,       /* calls of vae_train_epoch that completed                  */
  VAE_OPT_SKIPPED_STEPS = 23,/* steps skipped for a non-finite loss or gradient since the
                                trainer was created or loaded                           */
  /* Evaluation: */
  VAE_OPT_EVAL_ROWS = 24,    /* int, [0, 2^24], default 0               (may change):
       the decoder rows (one per data row and sample) that vae_evaluate,
       vae_log_likelihood and their dataset forms work on at a time. 0 sizes
       them from memory, whatever max_batch and k are: a workspace of at
       most 64 MiB on the CPU backend (and at most 65,536 rows), 256 MiB on
       the CUDA backend. A value is rounded down to a whole number of tiles
       (512 decoder rows for most models; at least one tile), and lowered
       where a buffer would pass 2^31 elements. The workspace
       is allocated by the first evaluation call and kept. The results do
       not depend on this option (on the CPU backend not in any bit, nor on
       VAE_OPT_THREADS; on the CUDA backend the GEMMs' rounding may differ
       with it).                                                          */
  /* Data parallelism (vae_set_allreduce); not saved in checkpoints: */
  VAE_OPT_RANK = 25,         /* int, [0, world size), this process's rank, default 0 (may change) */
  VAE_OPT_WORLD_SIZE = 26,   /* int, [1, 4096], ranks training together, default 1 (may change)  */
  /* The learning-rate schedule (added in 0.2; a checkpoint of 0.1 loads with
   * the defaults, a constant rate). Step t (0, 1, ...: the value of
   * VAE_OPT_STEPS when it runs; skipped steps do not count) takes the rate
   *   warm-up, t < W:   lr (t + 1) / W
   *   after, p = min((t - W) / D, 1):
   *     CONSTANT:  lr
   *     LINEAR:    lr + (final - lr) p
   *     COSINE:    final + (lr - final) (1 + cos(pi p)) / 2
   * with lr = VAE_OPT_LEARNING_RATE, W = VAE_OPT_WARMUP_STEPS, D =
   * VAE_OPT_DECAY_STEPS and final = VAE_OPT_FINAL_LEARNING_RATE; the rate
   * is final, exactly, from step W + D on. Each step computes its rate in double in
   * the backend's own memory from the step counter (on the CUDA backend, on
   * the device), so a captured step graph replays unchanged.
   * VAE_OPT_NEXT_LEARNING_RATE reads the rate of the next step. LINEAR and
   * COSINE need D >= 1: set VAE_OPT_DECAY_STEPS before the schedule. */
  VAE_OPT_LR_SCHEDULE = 27,  /* VAE_SCHEDULE_*, default CONSTANT              (may change) */
  VAE_OPT_WARMUP_STEPS = 28, /* int, [0, 2^56), W, default 0                 (may change) */
  VAE_OPT_DECAY_STEPS = 29,  /* int, [0, 2^56), D, default 0                 (may change) */
  VAE_OPT_FINAL_LEARNING_RATE = 30, /* float, [0, 1e6], default 0            (may change) */
  /* Gradient clipping by global norm (0.2), as torch.nn.utils.clip_grad_norm_:
   * with c = VAE_OPT_CLIP_NORM > 0, a step whose gradient has L2 norm |g|
   * over the parameters it updates (VAE_OPT_UPDATE) takes the gradient
   * g min(1, c / (|g| + 1e-6)). The norm is summed in double in the pass
   * that checks the gradient is finite, and the factor is applied inside
   * Adam. 0: no clipping. */
  VAE_OPT_CLIP_NORM = 31,    /* float, [0, 1e30], default 0                   (may change) */
  /* Read-only, for vae_get_float (0.2): */
  VAE_OPT_GRAD_NORM = 32,    /* |g| of the last step, before clipping (0 before the first;
                                infinite or NaN when that step was skipped for it)       */
  VAE_OPT_NEXT_LEARNING_RATE = 33, /* the rate the next step takes (the schedule above)  */
  /* The prior (0.2; a checkpoint without it loads with 0, the standard
   * normal). K = VAE_OPT_PRIOR_COMPONENTS:
   *   K = 0: p(z) = N(0, I), and the ELBO objective's KL is analytic (as before);
   *   K >= 1: a learned mixture of K diagonal Gaussians,
   *     p(z) = sum_k pi_k N(z; m_k, diag exp(v_k)), pi = softmax(a),
   *   whose means m [K x Z], log variances v [K x Z] and logits a [K] are
   *   parameters after the decoder's (checkpoint tensors "prior.means",
   *   "prior.log_variances", "prior.logits"), trained with the decoder's
   *   Adam group (VAE_UPDATE_DECODER moves them, VAE_UPDATE_ENCODER does not).
   *   They start at v = 0, a = 0 and m = 0 for K = 1 (so a one-component
   *   prior starts as N(0, I)), m_kj ~ N(0, 1) drawn from the seed for K >= 2.
   *   The KL then has no closed form: every objective, vae_evaluate's kl
   *   and vae_refine_posterior use the sampled KL of each sample z_s,
   *   log q(z_s|x) - log p(z_s), averaged over the VAE_OPT_SAMPLES samples
   *   (IWAE puts it in each weight as before). vae_sample and the prior
   *   estimator draw z from the mixture (a component by a uniform draw,
   *   then m + sigma eps); the importance estimator's weights take log p(z)
   *   of the mixture. A step keeps, per decoder row, the K
   *   responsibilities: the workspace grows by max_batch * samples * (K + Z)
   *   floats, and vae_create refuses max_batch * samples * K of 2^31 or
   *   more (VAE_ERROR_INVALID_ARGUMENT). vae_latent_usage's kl stays the KL
   *   to N(0, 1) (see there). */
  VAE_OPT_PRIOR_COMPONENTS = 34, /* int, [0, 1024], default 0                            */
  /* The bound of a decoder-predicted variance (VAE_VARIANCE_DECODER, 0.2;
   * a checkpoint without it loads with the default): the log variance of
   * dimension d is v_d = m + softplus(o_d - m) > m, o_d the decoder's
   * log-variance output and m this option. Unbounded, a Gaussian whose
   * variance the decoder predicts can put its mean on a training point
   * and shrink the variance to zero, an infinite likelihood (Mattei &
   * Frellsen 2018, who bound the covariance's eigenvalues below; the
   * sigma-VAE of Rybkin et al. 2021 and Stirn & Knowles 2020 use a minimum
   * variance too). The softplus keeps the gradient by o_d, sigmoid(o_d - m),
   * nonzero everywhere, where a hard clamp would kill it. The default -9
   * (sigma >= 0.011, about 3/256) suits data in [0, 1] such as pixels
   * dequantized from bytes, whose bins are 1/256 wide. Fixes the model:
   * set on config only. */
  VAE_OPT_MIN_LOG_VARIANCE = 35, /* float, [-30, 30], m, default -9                       */
  /* A conditional VAE (0.3; a checkpoint without it loads with 0): each row
   * comes with a condition vector c of C = VAE_OPT_CONDITION_DIM floats (a
   * one-hot class label, say), which joins the encoder's input and the
   * decoder's: q(z | x, c) and p(x | z, c). The first encoder layer takes
   * [x | c] (checkpoint tensor "encoder.0.weight" is [H, D + C], the input's
   * D columns then the condition's C, as nn.Linear on torch.cat([x, c], 1)),
   * the first decoder layer [z | c] ("decoder.0.weight" [H, Z + C]); the
   * prior stays p(z) (or the learned one). C = 0: no condition, the model
   * of 0.2. A conditional trainer takes its rows with their conditions
   * through the calls of "rows with conditions" below (vae_train_step_rows,
   * ...) and datasets that hold them (vae_dataset_set_labels,
   * vae_dataset_set_conditions); the calls without conditions refuse it
   * (VAE_ERROR_INVALID_ARGUMENT naming the call to use). Fixes the model:
   * set on config only. */
  VAE_OPT_CONDITION_DIM = 36     /* int, [0, 2^20], C, default 0                          */
} vae_option;

enum { VAE_LIKELIHOOD_BERNOULLI = 0, VAE_LIKELIHOOD_GAUSSIAN = 1 };
enum {
  VAE_VARIANCE_FIXED = 0,
  VAE_VARIANCE_LEARNED_SHARED = 1,
  VAE_VARIANCE_LEARNED_PER_DIM = 2,
  /* Heteroscedastic (0.2): the decoder predicts each dimension's log
   * variance. Its output layer is 2 D wide, the D means then the D
   * log-variance outputs o_d (one tensor "decoder.N", [2 D, in]), bounded
   * below by VAE_OPT_MIN_LOG_VARIANCE; VAE_OPT_LOG_VARIANCE (which must
   * exceed the bound) is the log variance the outputs' biases start at.
   * vae_decode and vae_sample return the D means. */
  VAE_VARIANCE_DECODER = 3
};
enum { VAE_ACTIVATION_RELU = 0, VAE_ACTIVATION_TANH = 1 };
/* The CUDA backend is the module libvae_cuda.so, which libvae.so loads the
 * first time a trainer asks for CUDA or AUTO: from the path in the
 * environment variable VAE_CUDA_MODULE when that is set, else from beside
 * libvae.so, else from the library search path. AUTO takes CUDA where the
 * module loads and finds a device, and the CPU otherwise (the call succeeds;
 * VAE_OPT_BACKEND then reads VAE_BACKEND_CPU). CUDA without them returns
 * VAE_ERROR_DEVICE with a message that says what is missing: the module (or
 * one of another build of libvae, or of another architecture; a path that
 * is not a regular file, such as a FIFO, is refused without being opened),
 * the NVIDIA driver, or a device; a build without the CUDA backend returns
 * VAE_ERROR_DEVICE too. VAE_CUDA_MODULE is read with secure_getenv, so a
 * set-user-ID program ignores it. */
enum { VAE_BACKEND_AUTO = 0, VAE_BACKEND_CPU = 1, VAE_BACKEND_CUDA = 2 };
enum { VAE_OBJECTIVE_ELBO = 0, VAE_OBJECTIVE_IWAE = 1 };
enum { VAE_UPDATE_ALL = 0, VAE_UPDATE_ENCODER = 1, VAE_UPDATE_DECODER = 2 };
enum { VAE_SCHEDULE_CONSTANT = 0, VAE_SCHEDULE_LINEAR = 1, VAE_SCHEDULE_COSINE = 2 };
enum { VAE_ESTIMATOR_PRIOR = 0, VAE_ESTIMATOR_IMPORTANCE = 1 };
/* Byte transforms for vae_dataset_create_u8. */
enum {
  VAE_BYTES_SCALE = 0,      /* x = y / 255                                    */
  VAE_BYTES_BINARIZE = 1,   /* x ~ Bernoulli(y / 255), drawn anew at each use */
  VAE_BYTES_DEQUANTIZE = 2  /* x = (y + u) / 256, u ~ U[0,1), anew at each use */
};

/* Maximum number of hidden layers of the encoder (and of the decoder). */
#define VAE_MAX_HIDDEN_LAYERS 8

/* The most a trainer's counters reach: VAE_OPT_STEPS, VAE_OPT_EPOCHS and the
 * internal ones (each half's Adam step count, the noise draws of evaluation
 * and sampling), 2^56 - 1. A call that would take a counter past it returns
 * VAE_ERROR_UNSUPPORTED and changes nothing (vae_train_epoch checks room for
 * all its steps first); a checkpoint holding a larger counter is refused
 * with VAE_ERROR_FORMAT. */
#define VAE_MAX_COUNTER INT64_C(72057594037927935)

VAE_API uint32_t vae_version(void);               /* VAE_VERSION of the library linked */
VAE_API const char* vae_status_string(vae_status s); /* fixed text per code           */
VAE_API const char* vae_last_error(void);         /* this thread's last failure, or "" */

/* ---- configuration ---------------------------------------------------- */
VAE_API vae_status vae_config_create(vae_config** out);
VAE_API void vae_config_destroy(vae_config* c); /* NULL: no-op */
VAE_API vae_status vae_config_set_int(vae_config* c, int option, int64_t value);
VAE_API vae_status vae_config_set_float(vae_config* c, int option, double value);
/* Encoder hidden widths, input side first (each in [1, 65536]); the decoder
 * mirrors them. count in [0, VAE_MAX_HIDDEN_LAYERS]; widths may be NULL when
 * count is 0. Default: one layer of 400. */
VAE_API vae_status vae_config_set_hidden_layers(vae_config* c, const int32_t* widths,
                                                int32_t count);

/* ---- trainer ------------------------------------------------------------ */
VAE_API vae_status vae_create(const vae_config* c, vae_trainer** out);
/* NULL: no-op. Called from t's own allreduce hook or progress callback, it
 * does nothing and sets vae_last_error() (vae_set_allreduce, vae_set_progress). */
VAE_API void vae_destroy(vae_trainer* t);
VAE_API vae_status vae_set_int(vae_trainer* t, int option, int64_t value);
VAE_API vae_status vae_set_float(vae_trainer* t, int option, double value);
/* vae_get_int of a real option: its value truncated, or
 * VAE_ERROR_INVALID_ARGUMENT where int64 cannot hold it (VAE_OPT_CLIP_NORM
 * beyond 2^63). */
VAE_API vae_status vae_get_int(const vae_trainer* t, int option, int64_t* value);
VAE_API vae_status vae_get_float(const vae_trainer* t, int option, double* value);
/* The trainer's encoder hidden widths, input side first (the decoder mirrors
 * them), as vae_config_set_hidden_layers set them or the checkpoint holds
 * them: *count gets their number, and widths, room for capacity values (may
 * be NULL when capacity is 0), gets them. A capacity below the count
 * returns VAE_ERROR_INVALID_ARGUMENT, still setting *count. */
VAE_API vae_status vae_get_hidden_layers(const vae_trainer* t, int32_t* widths, int32_t capacity,
                                         int32_t* count);

/* One optimizer step on n rows (1 <= n <= max batch) of x (n x input_dim).
 * *loss (may be NULL): the mean per-row loss in nats.
 *
 * A step whose loss or gradient is not finite is skipped: no parameter,
 * optimizer state or step counter changes, and VAE_OPT_SKIPPED_STEPS counts
 * it. So is a step with a gradient element beyond 2^62, whose square would
 * overflow Adam's second moment; and a parameter whose Adam update would not
 * be finite (an epsilon that is 0 in float, say) keeps its value, so that
 * the trainer's state, and every checkpoint of it, stays finite. The check runs where the step runs (on the GPU for the CUDA backend),
 * so a step with loss == NULL does not wait for its result: it returns once
 * the step is queued, and a skipped step is reported later. On both backends
 * the calls that wait, and so report, are vae_train_step with loss != NULL
 * and vae_train_epoch: each returns VAE_ERROR_NUMERICAL when any step since
 * the last report was skipped (its own, or earlier ones queued with loss ==
 * NULL; the message says which, and how many), and then writes no *loss.
 * Reading VAE_OPT_STEPS or VAE_OPT_SKIPPED_STEPS also waits, and reports
 * nothing. */
VAE_API vae_status vae_train_step(vae_trainer* t, const float* x, int64_t n, float* loss);

/* Per row, with the trainer's K samples: elbo = reconstruction - kl, where
 * reconstruction = E_q log p(x|z) (nats, a Monte Carlo mean over K samples)
 * and kl = KL(q(z|x) || p(z)) in closed form (with a learned prior,
 * VAE_OPT_PRIOR_COMPONENTS >= 1: the mean over the K samples of
 * log q(z|x) - log p(z), the same samples as reconstruction's). Any output
 * may be NULL; n >= 1. */
VAE_API vae_status vae_evaluate(vae_trainer* t, const float* x, int64_t n, float* elbo,
                                float* reconstruction, float* kl);
/* Per row, an estimate of log p(x) from k >= 1 samples: VAE_ESTIMATOR_PRIOR
 * samples z ~ p(z), VAE_ESTIMATOR_IMPORTANCE samples z ~ q(z|x):
 * log (1/k) sum_j w_j by a running log-sum-exp over the samples, so memory
 * does not grow with k. Each row is encoded once for its k samples; the work
 * goes in chunks of VAE_OPT_EVAL_ROWS decoder rows. The noise of sample j of
 * row i is keyed by (i, j) and the call, so no chunking changes a result;
 * n * k * latent_dim must be below 2^62. */
VAE_API vae_status vae_log_likelihood(vae_trainer* t, const float* x, int64_t n, int32_t k,
                                      int estimator, float* log_px);
/* ---- log p(x) with error bars ------------------------------------------- */
/* vae_log_likelihood's estimate together with how far to trust it. For each
 * row, from the K importance weights w_k = p(x, z_k) / q(z_k | x) (prior
 * estimator: w_k = p(x | z_k), z_k ~ p(z)) that the estimate forms:
 *   log_px    = log p^ = logsumexp_k(log w_k) - log K, bit for bit
 *               vae_log_likelihood's result with the same k and noise;
 *   ess       = (sum_k w_k)^2 / sum_k w_k^2, the effective sample size, in [1, K];
 *   std_error = sqrt(Var^(w) / K) / mean(w), the standard error of log p^ by
 *               the delta method, Var^ the unbiased sample variance of the
 *               weights; = sqrt((K / ess - 1) / (K - 1)); +infinity for K = 1.
 * All three come from two running log-sum-exps in the same pass over the
 * samples, L1 = logsumexp(log w) and L2 = logsumexp(2 log w), sharing their
 * maximum: ess = exp(2 L1 - L2), so no weight is stored or overflows.
 *
 * Adaptive K (adaptive = 1): each row draws in rounds of K = k, 2k, 4k, ...
 * (the last round k_max) and stops at the first round whose std_error is at
 * most target_std_error, or at K = k_max; k_used reports the K of its last
 * round. A round with K samples draws exactly the noise of the fixed-K call
 * with that K (noise of sample j of row i keyed by (i, j), K and the call),
 * so a row's four numbers equal those of a fixed-K call with k = k_used on a
 * trainer in the same state. A round redraws its samples (the noise of a
 * sample depends on K), so a row draws at most twice its k_used samples. A
 * round runs the fixed-K call's chunks (of VAE_OPT_EVAL_ROWS decoder rows)
 * that hold a row still going, all of their rows included: rows that stop
 * early save work a chunk at a time.
 *
 * size fields: set each to sizeof its struct (vae_likelihood_options_init
 * does it for the options); later versions may add fields at the end and
 * will accept this size. */
typedef struct vae_likelihood_options {
  size_t size;             /* sizeof(vae_likelihood_options)                             */
  int32_t k;               /* samples per row, or the first round's (adaptive); >= 1.
                              Default 1000                                               */
  int32_t k_max;           /* adaptive: the most samples per row, >= k; fixed K: ignored.
                              Default 0                                                  */
  double target_std_error; /* adaptive: finite and > 0 (nats); fixed K: ignored.
                              Default 0                                                  */
  int32_t estimator;       /* VAE_ESTIMATOR_*, default VAE_ESTIMATOR_IMPORTANCE           */
  int32_t adaptive;        /* 0: k samples per row (default); 1: rounds up to k_max      */
} vae_likelihood_options;

/* Per-row outputs, n values each, host or (CUDA backend) device memory; any
 * may be NULL, but not all four. */
typedef struct vae_likelihood_rows {
  size_t size;             /* sizeof(vae_likelihood_rows)                                */
  float* log_px;           /* log p^ (nats)                                              */
  float* std_error;        /* its standard error (nats)                                  */
  float* ess;              /* effective sample size                                      */
  int32_t* k_used;         /* the samples the row's estimate used: k, or adaptive's K    */
} vae_likelihood_rows;

/* Means over a dataset's rows. */
typedef struct vae_likelihood_summary {
  size_t size;             /* sizeof(vae_likelihood_summary), set by the caller          */
  double mean_log_px;      /* mean of log p^ (the discrete bound for dequantized bytes)  */
  double std_error;        /* its Monte Carlo standard error, sqrt(sum_i std_error_i^2) / n
                              (rows' estimates independent given the data)                */
  double mean_ess;         /* mean effective sample size                                 */
  double mean_k_used;      /* mean samples per row                                       */
} vae_likelihood_summary;

/* Fills *options with the defaults and its size. */
VAE_API vae_status vae_likelihood_options_init(vae_likelihood_options* options);
/* Per row of x (n x input_dim, n >= 1): log p^, its standard error, the ESS
 * and K, as above. Bad options (a size this library does not know, k < 1,
 * an unknown estimator, adaptive not 0 or 1, and when adaptive: k_max < k,
 * a target_std_error that is not finite and > 0) return
 * VAE_ERROR_INVALID_ARGUMENT naming the field, and nothing changes. The
 * outputs are written once every row is done (interrupted by vae_interrupt:
 * none). One noise draw per call, as vae_log_likelihood; n * k_max (fixed:
 * n * k) * latent_dim must be below 2^62. */
VAE_API vae_status vae_log_likelihood_stats(vae_trainer* t, const float* x, int64_t n,
                                            const vae_likelihood_options* options,
                                            const vae_likelihood_rows* out);

/* mu, logvar: n x latent_dim each; either may be NULL. */
VAE_API vae_status vae_encode(vae_trainer* t, const float* x, int64_t n, float* mu,
                              float* logvar);
/* mean: n x input_dim. Bernoulli: probabilities sigmoid(logits); Gaussian: means. */
VAE_API vae_status vae_decode(vae_trainer* t, const float* z, int64_t n, float* mean);
/* Decodes n draws z ~ p(z) (a learned prior's: draw i picks its component
 * with a uniform draw of its own, then z = m + sigma eps). */
VAE_API vae_status vae_sample(vae_trainer* t, int64_t n, float* mean);

/* ---- the inference gap ---------------------------------------------------- */
/* The lecture's non-amortized E-step for each row x_i: its own variational
 * parameters phi_i = (mu_i, log sigma^2_i), initialized from the encoder
 * and improved by `steps` Adam steps on that row's ELBO with the decoder
 * fixed,
 *   ELBO_i(phi_i) = E_{eps ~ N(0, I)} log p(x_i | mu_i + sigma_i eps) - KL(q_i || p(z)),
 * each step's gradient a `samples`-sample reparameterized estimate, taken
 * through the decoder as a VAE_UPDATE_ENCODER step takes it, and Adam with
 * the trainer's betas and epsilon and the call's learning_rate (a gradient
 * element that is not finite leaves its parameter as it was). Nothing of
 * the model, its optimizer state or its counters changes (VAE_OPT_* but the
 * count of noise draws).
 * Per row it returns the refined mu and logvar, and the ELBO before and after
 * (elbo_samples-sample estimates, nats; KL in closed form, or the sampled
 * KL under a learned prior (VAE_OPT_PRIOR_COMPONENTS); both under the
 * same noise, so their difference has no noise of the two draws' own).
 * With log p(x) (vae_log_likelihood_stats) they split the gap of the bound:
 *   log p(x) - ELBO(encoder) = [log p(x) - ELBO(refined)]        (approximation gap)
 *                            + [ELBO(refined) - ELBO(encoder)]   (amortization gap)
 * (Cremer, Li and Duvenaud 2018); the refined ELBO is a lower bound of the
 * best diagonal Gaussian's, so the amortization gap it gives is a lower bound.
 * The noise: one draw per call; sample j of row i (j < steps * samples for
 * the steps, in order, then the ELBO's samples) takes elements
 * [(j n + i) Z, (j n + i + 1) Z) of it, whatever the chunks, so a row's
 * results do not depend on the others' (up to the summation order of the
 * ELBO's groups of samples). Rows go in chunks of at most VAE_OPT_MAX_BATCH
 * rows; vae_interrupt is checked before every chunk and every step (then
 * the outputs of the chunks done are written).
 *
 * Set size to sizeof(vae_refine_options) (vae_refine_options_init does
 * it); later versions may add fields at the end and will accept this size. */
typedef struct vae_refine_options {
  size_t size;           /* sizeof(vae_refine_options)                                  */
  int32_t steps;         /* Adam steps per row, >= 0 (0: the encoder's phi). Default 100  */
  int32_t samples;       /* z samples per step, >= 1, samples <= VAE_OPT_MAX_BATCH *
                            VAE_OPT_SAMPLES. Default 1                                  */
  int32_t elbo_samples;  /* samples of each ELBO estimate, >= 1. Default 100            */
  double learning_rate;  /* Adam's step size, finite and > 0. Default 0.01              */
} vae_refine_options;

/* Per-row outputs (host, or on the CUDA backend device memory); any may be
 * NULL but not all four. */
typedef struct vae_refine_rows {
  size_t size;           /* sizeof(vae_refine_rows)                                      */
  float* mu;             /* n x latent_dim: the refined means                            */
  float* logvar;         /* n x latent_dim: the refined log variances                    */
  float* elbo_encoder;   /* n: ELBO with the encoder's mu and logvar (nats)              */
  float* elbo_refined;   /* n: ELBO with the refined ones, same noise (nats)             */
} vae_refine_rows;

/* Fills *options with the defaults and its size. */
VAE_API vae_status vae_refine_options_init(vae_refine_options* options);
/* x: n x input_dim (n >= 1), checked as vae_evaluate checks it. Bad options
 * (a size this library does not know, a field out of its range, and
 * (steps * samples + elbo_samples) * n * latent_dim of 2^62 or more) return
 * VAE_ERROR_INVALID_ARGUMENT naming the field, and nothing changes. */
VAE_API vae_status vae_refine_posterior(vae_trainer* t, const float* x, int64_t n,
                                        const vae_refine_options* options,
                                        const vae_refine_rows* out);

/* ---- CUDA streams ------------------------------------------------------- */
/* Orders the trainer's GPU work on the caller's stream (a cudaStream_t passed
 * as void*, on the trainer's device), as PyTorch and CuPy users hand over
 * their current stream; NULL returns to the trainer's own stream. Every
 * later call queues its work on that stream, so caller memory that earlier
 * work on the stream writes is read after it, and work the caller queues
 * after a call sees its results. The stream must stay valid until it is
 * replaced or the trainer destroyed. Epochs capture CUDA graphs on it, so
 * the legacy default stream itself is refused (VAE_ERROR_INVALID_ARGUMENT),
 * and a stream created with cudaStreamNonBlocking is best where other
 * threads use the legacy default stream.
 *
 * Without a stream of the caller's, the trainer works on its own stream and
 * orders itself against the legacy default stream (stream 0) wherever it
 * touches caller memory: it waits for the work queued there before it reads
 * or writes a caller's array, and work queued there afterwards waits for
 * those reads and writes. Work on other streams of the caller must be
 * finished, or handed over with vae_set_cuda_stream, before a call.
 * The CPU backend returns VAE_ERROR_UNSUPPORTED. */
VAE_API vae_status vae_set_cuda_stream(vae_trainer* t, void* stream);

/* ---- data parallelism ------------------------------------------------------ */
/* Several processes (ranks), each with its own trainer, train one model
 * together: every step, each rank computes the gradient of its part of the
 * batch and a hook sums the gradients across the ranks, so that every rank
 * takes the same Adam step. MPI, NCCL, torch.distributed or mpi4py can be the
 * hook; libvae links none of them (the vae_mpi and vae_nccl adapter libraries
 * supply hooks: include/vae/vae_mpi.h, vae_nccl.h).
 *
 * The hook replaces each of the `count` floats of `buffer` by its sum over
 * the ranks, and must give every rank bit for bit the same sums
 * (MPI_Allreduce and ncclAllReduce do). With on_device == 0 the buffer is
 * host memory and stream is NULL; with on_device == 1 it is memory of the
 * trainer's GPU and stream is the cudaStream_t the step runs on: queue the
 * sum on it (ncclAllReduce), or synchronize it before reading the buffer and
 * return once the sums are written. The buffer is the step's gradient,
 * already divided by the batch's rows, followed by a tail of libvae's own
 * (the step's loss sum and row count, and each rank's vote on what the ranks
 * must agree on); count is the same on ranks of one configuration and
 * backend (the CUDA backend's gradient has padding between tensors).
 * The hook returns VAE_OK (0), or on failure an error status as an int
 * (VAE_ERROR_DEVICE or VAE_ERROR_IO, say), and may then write a message of at
 * most message_size bytes, its NUL included, into message; the step then
 * changes nothing and the call returns that status with the message (any
 * other nonzero value, and VAE_ERROR_NUMERICAL, which reports skipped steps,
 * are reported as VAE_ERROR_DEVICE). An epoch stops at a
 * failed step, after the steps already taken, and is not counted.
 *
 * The hook may write the count floats of buffer and nothing else. A few
 * floats after them are a guard, filled before each call: on the CPU
 * backend a hook that wrote there fails its step with VAE_ERROR_DEVICE
 * ("wrote past the end of its buffer"), and the step changes nothing. On
 * the CUDA backend the device reads the guard (reading it on the host would
 * make each step wait for the device): the step is skipped, changing no
 * parameter or moment (it counts in VAE_OPT_SKIPPED_STEPS), and the next
 * call that reports skipped steps (a step that returns its loss, an epoch)
 * returns VAE_ERROR_DEVICE naming the overrun.
 *
 * The hook runs inside the trainer's step, which is half done: on its own
 * trainer it may call only vae_interrupt, vae_get_int, vae_get_float,
 * vae_get_hidden_layers and vae_parameter_count. Every other call on that
 * trainer (a step, an epoch, evaluation, options, parameters, vae_save,
 * datasets, the hook itself) returns VAE_ERROR_INVALID_ARGUMENT and changes
 * nothing, and vae_destroy
 * and vae_dataset_destroy of its datasets do nothing (vae_last_error() says
 * why); the step then completes as if the call had not been made. Other
 * trainers may be used from the hook as from anywhere.
 *
 * Sets (fn not NULL) or clears the trainer's hook. While one is set, every
 * training step calls it once, from the calling thread, with world size 1
 * too; a trainer with VAE_OPT_WORLD_SIZE > 1 refuses to train without one
 * (VAE_ERROR_INVALID_ARGUMENT). The trainer must be used as the rank
 * VAE_OPT_RANK of VAE_OPT_WORLD_SIZE ranks (set on the config, or on a live
 * trainer: raise WORLD_SIZE before RANK), and every rank must make the same
 * training calls, in the same order, on trainers of the same configuration
 * and state (the same seed, or the same checkpoint):
 *   - vae_train_step: every rank passes the same n; rank r's rows are rows
 *     r*n .. r*n + n - 1 of a batch of world size * n rows;
 *   - vae_train_epoch: every rank holds the same dataset; batch is the rows of
 *     the whole batch (1 <= batch <= world size * max batch), and rank r
 *     trains rows floor(b r / W) .. floor(b (r + 1) / W) - 1 of each batch of
 *     b rows of the epoch's order (the last batch may be smaller, and a rank's
 *     part empty). *mean_loss and the progress callback's figures are the
 *     whole batch's, on every rank.
 * Noise is keyed by a row's place in the whole batch and the step count, so
 * the ranks compute what one process computes on the whole batch, up to the
 * order of the sums. A step that is not finite anywhere is skipped by every
 * rank. Each step the ranks also vote on its layout (world size, row counts,
 * dataset size, batch), their counters and their training options: when
 * they disagree, or a rank refuses its part (input that is not finite, a
 * bad argument), the step is skipped by every rank and counted in
 * VAE_OPT_SKIPPED_STEPS on each, so the ranks stay alike. A rank that
 * refused returns its own error; when the ranks disagree, every rank
 * returns VAE_ERROR_INVALID_ARGUMENT naming what they disagree about, when
 * another rank refused, VAE_ERROR_NUMERICAL (reported as skipped steps are,
 * vae_train_step). A rank that fails before its hook is called (or stops
 * calling) leaves the others waiting in the hook, as with any collective.
 *
 * Evaluation, likelihoods, encoding, decoding and sampling stay local (no
 * hook call), so one rank may evaluate alone. Checkpoints hold no rank or
 * world size: rank 0 saves, and any number of ranks can resume from the
 * file (vae_load, then VAE_OPT_WORLD_SIZE, VAE_OPT_RANK and the hook); the
 * file keeps VAE_OPT_MAX_BATCH, so a run that may resume on fewer ranks
 * gives its trainers room for the larger parts. On the CUDA backend, steps
 * with a hook are not captured into CUDA graphs. */
typedef int (*vae_allreduce_fn)(void* user_data, float* buffer, int64_t count, int on_device,
                                void* stream, char* message, size_t message_size);
VAE_API vae_status vae_set_allreduce(vae_trainer* t, vae_allreduce_fn fn, void* user_data);

/* ---- parameters and checkpoints ------------------------------------------ */
VAE_API vae_status vae_parameter_count(const vae_trainer* t, int64_t* count);
VAE_API vae_status vae_get_parameters(const vae_trainer* t, float* out, int64_t count);
VAE_API vae_status vae_set_parameters(vae_trainer* t, const float* in, int64_t count);
/* Checkpoints are safetensors files: PyTorch nn.Linear names and layout, the
 * configuration in the metadata, optimizer state and step counts included.
 *
 * vae_save writes atomically: a temporary file beside path, flushed, then
 * renamed over it, so a save that fails (or a crash) leaves the old file as
 * it was and no temporary file behind. The metadata key "libvae.data_crc32"
 * holds zlib's CRC-32 of the data section (every byte after the header) as
 * 8 lowercase hexadecimal digits.
 *
 * vae_load reads only a regular file (a FIFO, a device such as /dev/zero,
 * a directory: VAE_ERROR_IO, without waiting). It reads the header first,
 * checked against the file's size, then exactly the data the header
 * describes, and only once the header's tensors match the model its
 * metadata describes. It checks every header field and tensor shape against
 * the model the metadata describes before it allocates that model, and
 * refuses with
 * VAE_ERROR_FORMAT, naming what is wrong:
 *   - data that does not match "libvae.data_crc32" ("checksum mismatch");
 *   - values vae_set_parameters would refuse, or Adam could not resume from:
 *     a parameter or first moment that is not finite, a second moment that
 *     is negative or not finite (the message names the tensor and element).
 * vae_save checks the state against the same rules before it writes, and
 * never writes a file vae_load would refuse: a value or counter that breaks
 * them (which only a fault, or the caller's code overwriting the trainer's
 * memory, can make) returns VAE_ERROR_INTERNAL naming it, and nothing is
 * written.
 * A file without "libvae.data_crc32" is accepted: files written before the
 * key existed, and files that another safetensors writer (PyTorch's
 * save_file, say) wrote from a libvae checkpoint's tensors and metadata, do
 * not have it, and the checks above still apply to them; only damage that
 * leaves the values finite goes unnoticed in such a file. A tool that
 * changes the tensors must drop or update the key. */
VAE_API vae_status vae_save(const vae_trainer* t, const char* path);
VAE_API vae_status vae_load(const char* path, int backend, vae_trainer** out);
/* What a checkpoint holds beyond the model, and the memory it sizes, is the
 * caller's to choose: vae_load keeps the file's VAE_OPT_MAX_BATCH (the
 * memory check above applies) and VAE_OPT_THREADS up to the number of CPUs
 * the process may run on (its affinity mask), so a round trip on one machine
 * keeps every option and no file starts more threads than the machine can
 * run; vae_load_config takes those of VAE_OPT_BACKEND, VAE_OPT_DEVICE,
 * VAE_OPT_MAX_BATCH, VAE_OPT_THREADS, VAE_OPT_EVAL_ROWS and VAE_OPT_TF32
 * that were set on c (vae_config_set_int) instead of the file's, and keeps
 * the file's for those not set, as vae_load does (the model, the training
 * options and the state are always the file's; c's other options are not
 * read). */
VAE_API vae_status vae_load_config(const char* path, const vae_config* c, vae_trainer** out);

/* ---- datasets --------------------------------------------------------------- */
/* A copy of n rows (n x input_dim) kept by the trainer's backend (on the GPU
 * for the CUDA backend). The dataset belongs to t and must be destroyed
 * before it. */
VAE_API vae_status vae_dataset_create(vae_trainer* t, const float* x, int64_t n,
                                      vae_dataset** out);
/* Bytes stay bytes; transform (VAE_BYTES_*) is applied each time a row is used. */
VAE_API vae_status vae_dataset_create_u8(vae_trainer* t, const uint8_t* y, int64_t n,
                                         int transform, vae_dataset** out);
/* NULL: no-op; from its trainer's hook or progress callback, it does nothing
 * (vae_destroy). */
VAE_API void vae_dataset_destroy(vae_dataset* ds);
VAE_API vae_status vae_dataset_size(const vae_dataset* ds, int64_t* n);
/* One pass over ds in an order shuffled by the trainer's seed and epoch count,
 * in batches of `batch` rows (1 <= batch <= max batch, or world size * max
 * batch with a hook: vae_set_allreduce), the last partial batch included.
 * *mean_loss (may be NULL): the row-weighted mean loss, nats. */
VAE_API vae_status vae_train_epoch(vae_trainer* t, vae_dataset* ds, int64_t batch,
                                   float* mean_loss);
/* The progress callback, for progress displays; called on the calling
 * thread.
 *
 * By vae_train_epoch after every step of an epoch of at most 64 steps, and
 * otherwise after the steps that complete each 64th of the epoch and after
 * the last (so at most 65 calls; on the GPU each call waits for the steps
 * queued so far): the rows trained so far in this epoch, the epoch's rows,
 * and the mean loss of the rows of the steps taken (nats).
 *
 * By vae_evaluate_dataset and vae_log_likelihood_dataset (and
 * vae_log_likelihood_stats_dataset and vae_latent_usage, as they say) in the
 * same way after their chunks (VAE_OPT_EVAL_ROWS; at most 65 calls): the rows whose
 * results are complete (a row's samples may span chunks, so a call can
 * report the same count twice), the dataset's rows, and the mean over the
 * rows done of the call's per-row result (the ELBO, or the estimate of
 * log p(x); the discrete bound for dequantized bytes, as the call's result;
 * 0 while no row is done). The last call reports every row, and its mean is
 * the call's result. While an evaluation's callback runs, the calls that
 * would change the trainer or draw its noise (training, evaluation,
 * likelihoods, vae_sample, vae_set_int/float, vae_set_parameters) return
 * VAE_ERROR_INVALID_ARGUMENT and change nothing; reading calls work. No
 * progress callback may end what its call uses: there vae_destroy of the
 * trainer and vae_dataset_destroy of its datasets do nothing, and
 * vae_last_error() says why (destroy them once the call returns).
 *
 * On the CUDA backend an epoch runs on the device: the permutation is drawn
 * there, each step is replayed from a captured CUDA graph, and the host waits
 * once at the end (and at progress calls). A skipped step does not stop the
 * epoch: the epoch completes, counts, and returns VAE_ERROR_NUMERICAL naming
 * how many of its steps were skipped; *mean_loss is then the mean over the
 * rows of the steps taken. */
typedef void (*vae_progress_fn)(void* user_data, int64_t rows_done, int64_t rows_total,
                                double mean_loss);
/* Sets (fn not NULL) or clears (fn NULL) the trainer's progress callback. */
VAE_API vae_status vae_set_progress(vae_trainer* t, vae_progress_fn fn, void* user_data);
/* Asks the long call running on t (vae_train_epoch, vae_evaluate_dataset,
 * vae_log_likelihood_dataset, vae_log_likelihood_stats_dataset,
 * vae_latent_usage, and the
 * array calls vae_evaluate, vae_log_likelihood, vae_log_likelihood_stats,
 * vae_refine_posterior, vae_encode, vae_decode and vae_sample) to stop early,
 * as sqlite3_interrupt does: for
 * Ctrl-C, a stop button, a time limit. It only sets a flag (a lock-free
 * atomic) and returns, so it may be called from any thread, from a signal
 * handler and from the progress callback; t must stay alive meanwhile. The
 * call in progress returns VAE_ERROR_INTERRUPTED at its next check:
 *   - vae_train_epoch checks before each step (on the GPU, before queuing
 *     it; steps already queued complete). The steps taken stay taken and
 *     VAE_OPT_STEPS counts them; the epoch is not counted (VAE_OPT_EPOCHS
 *     stays), and the epoch's position and loss sums are reset, so the next
 *     vae_train_epoch starts a whole epoch, in the same shuffled order (the
 *     order is keyed by VAE_OPT_EPOCHS). Skipped steps among those taken are
 *     reported by the next call that reports (vae.h, vae_train_step).
 *     An epoch that ranks share (an allreduce hook is set) stops on every
 *     rank at the same step, however many ranks were interrupted: every
 *     rank must take each step, so an interrupted rank asks in its part of
 *     its next step (the tail the hook sums), and at the next point where
 *     the progress callback is due (up to 65 an epoch, the same steps on
 *     every rank, callback or not) all ranks read the summed request and
 *     stop before the next step, each returning VAE_ERROR_INTERRUPTED. On
 *     the GPU those points wait for the device. An interrupt after the
 *     last of them lets the epoch end as usual.
 *   - vae_evaluate_dataset, vae_log_likelihood_dataset and
 *     vae_log_likelihood_stats_dataset check before each chunk of rows and,
 *     interrupted, change nothing and write no output.
 *   - The array calls check before each chunk of rows (of VAE_OPT_EVAL_ROWS
 *     decoder rows for the evaluations, so also between the samples of one
 *     row; of max batch rows for encoding, max batch * samples for decoding
 *     and sampling; vae_refine_posterior also before each Adam step) and,
 *     interrupted, change nothing in the trainer; the
 *     outputs of the rows done before the check are written.
 *   A call made from a progress callback checks the flag but leaves it set
 *   for the call that runs the callback.
 * The flag is cleared when one of these calls begins and when it returns, so
 * an interrupt while none runs has no effect (and one sent just before a
 * call begins may be lost). On success vae_interrupt leaves vae_last_error()
 * as it was; t NULL returns VAE_ERROR_INVALID_ARGUMENT, setting the message
 * (do not pass NULL from a signal handler). */
VAE_API vae_status vae_interrupt(vae_trainer* t);
/* Means over the rows of ds; any output may be NULL. For dequantized bytes the
 * figures are the discrete bound: elbo and reconstruction less D*log(256).
 * Reports progress (vae_set_progress). */
VAE_API vae_status vae_evaluate_dataset(vae_trainer* t, vae_dataset* ds, double* elbo,
                                        double* reconstruction, double* kl);
/* Mean estimate of log p(x) over ds (discrete bound for dequantized bytes).
 * Reports progress (vae_set_progress). */
VAE_API vae_status vae_log_likelihood_dataset(vae_trainer* t, vae_dataset* ds, int32_t k,
                                              int estimator, double* mean_log_px);
/* vae_log_likelihood_stats over the rows of ds, its means in *out. Reports
 * progress (vae_set_progress): fixed K as vae_log_likelihood_dataset does;
 * adaptive after the chunks of each round (at most 65 calls a round), the
 * rows counted done once they stopped, the mean over them. Stops at
 * vae_interrupt before a chunk, changing nothing and writing no output. */
VAE_API vae_status vae_log_likelihood_stats_dataset(vae_trainer* t, vae_dataset* ds,
                                                    const vae_likelihood_options* options,
                                                    vae_likelihood_summary* out);

/* ---- latent usage ------------------------------------------------------ */
/* How the model uses its latent space over the rows of a dataset, from the
 * encoder's outputs mu_i, logvar_i (one pass of the encoder, in chunks of
 * max batch rows; the sums and the estimate below are computed on the host
 * in double precision, on every backend):
 *   kl[u]       = (1/N) sum_i KL(q(z_u | x_i) || N(0, 1))
 *               = (1/N) sum_i 1/2 (mu_iu^2 + exp(logvar_iu) - logvar_iu - 1),
 *                 the mean KL of latent u; kl_total = sum_u kl[u], the
 *                 average KL term of the ELBO;
 *   activity[u] = Cov_x(E_q[z_u]) = (1/(N-1)) sum_i (mu_iu - mean_i mu_iu)^2
 *                 (0 for N = 1); latent u is active when activity[u] >
 *                 active_threshold (Burda, Grosse and Salakhutdinov 2016:
 *                 0.01), and active_units counts those;
 *   mutual_information: I_q(x; z) of the aggregate posterior
 *                 q(z) = (1/N) sum_i q(z | x_i), the mixture of every row's
 *                 posterior (x uniform over the dataset's N rows), from the
 *                 split kl_total = I_q(x; z) + KL(q(z) || p(z)) (Hoffman and
 *                 Johnson 2016); marginal_kl = kl_total - mutual_information.
 * With a learned prior (VAE_OPT_PRIOR_COMPONENTS) kl, kl_total and
 * marginal_kl stay against N(0, I): the split kl_total = I_q(x; z) +
 * KL(q(z) || N(0, I)) holds for it as for any reference, and the mutual
 * information does not depend on the prior.
 * The estimator: M = min(mi_rows, N) rows, evenly spaced (row floor(m N / M)
 * for m = 0..M-1), each with mi_samples draws z ~ q(z | x_i), and
 *   I^ = mean over the M * mi_samples draws of log q(z | x_i) - log q(z),
 * where log q(z) = logsumexp_k log q(z | x_k) - log N sums over all N rows
 * exactly (no minibatch mixture, whose log-mean-exp would bias log q(z)
 * and so I^). With M = N, E[I^] = I_q(x; z) exactly: no bias beyond the
 * float rounding of the encoder's outputs. With M < N, I^ is unbiased for
 * the mean over the M rows, and estimates the dataset's mean as a sample
 * of rows does (evenly spaced: for a dataset in random order, a random
 * subset). Its error is then Monte Carlo noise, reported as
 * mutual_information_std_error: the terms' sample standard deviation /
 * sqrt(M * mi_samples) (0 for one term), which covers the draws and, for a
 * random subset, the choice of rows. Since q(z) mixes N components,
 * 0 <= I_q(x; z) <= log N: with few rows or a large I the estimate saturates
 * near log N.
 * Cost: O(M * mi_samples * N * latent_dim) on the host, one thread. The
 * draws use one noise draw of the trainer (as an evaluation call); dataset
 * bytes are transformed with evaluation noise. */
typedef struct vae_latent_usage_options {
  size_t size;             /* sizeof(vae_latent_usage_options)                           */
  double active_threshold; /* >= 0 and finite, default 0.01                              */
  int64_t mi_rows;         /* >= 1: rows whose draws average I^; min(mi_rows, N) used,
                              default 1000                                               */
  int32_t mi_samples;      /* >= 1: draws per such row, default 1                        */
} vae_latent_usage_options;

typedef struct vae_latent_usage_result {
  size_t size;                  /* sizeof(vae_latent_usage_result), set by the caller     */
  double* kl;                   /* latent_dim values, host memory, or NULL                */
  double* activity;             /* latent_dim values, host memory, or NULL                */
  int64_t active_units;
  double kl_total;
  double mutual_information;
  double mutual_information_std_error;
  double marginal_kl;
} vae_latent_usage_result;

/* Fills *options with the defaults and its size. */
VAE_API vae_status vae_latent_usage_options_init(vae_latent_usage_options* options);
/* The latent usage of ds (above) into *out. Bad options or out (sizes this
 * library does not know, a threshold that is negative or not finite,
 * mi_rows or mi_samples < 1) return VAE_ERROR_INVALID_ARGUMENT naming the
 * field, and nothing changes. Reports progress (vae_set_progress) after the
 * encoder's chunks (at most 65 calls: the rows encoded, ds's rows, the mean
 * KL so far), and stops at vae_interrupt before each chunk and each row of
 * the estimate, changing nothing and writing no output. */
VAE_API vae_status vae_latent_usage(vae_trainer* t, vae_dataset* ds,
                                    const vae_latent_usage_options* options,
                                    vae_latent_usage_result* out);

/* ---- rows with conditions (0.3) -------------------------------------------- */
/* The calls of a conditional model (VAE_OPT_CONDITION_DIM = C >= 1). Each
 * takes its rows as a vae_rows, which later versions may extend at its end
 * (so no call grows its argument list): set size to sizeof(vae_rows); a size
 * this library does not know is refused (VAE_ERROR_INVALID_ARGUMENT).
 * data and condition are host or (CUDA backend) device memory, as x is for
 * the calls without conditions. Each call does what its namesake without
 * "_rows" does, row i of every array being row i of the model's input, and
 * is that call when C = 0 (condition must then be NULL). A condition value
 * that is not finite is refused (VAE_ERROR_INVALID_ARGUMENT naming its row
 * and column) before the call changes anything, by every call, a step with
 * loss == NULL too (which waits for the check of a condition in device
 * memory; it does not wait for that of x). Each row's condition joins the encoder's input and every decoder
 * row of that data row (each of its samples). */
typedef struct vae_rows {
  size_t size;            /* sizeof(vae_rows)                                              */
  int64_t n;              /* rows, >= 1 (the limits of the namesake call)                  */
  const float* data;      /* n x input_dim: x; vae_decode_rows: z, n x latent_dim;
                             vae_sample_rows: unused (NULL)                                */
  const float* condition; /* n x C; NULL when C = 0                                        */
} vae_rows;

VAE_API vae_status vae_train_step_rows(vae_trainer* t, const vae_rows* rows, float* loss);
VAE_API vae_status vae_evaluate_rows(vae_trainer* t, const vae_rows* rows, float* elbo,
                                     float* reconstruction, float* kl);
VAE_API vae_status vae_log_likelihood_rows(vae_trainer* t, const vae_rows* rows, int32_t k,
                                           int estimator, float* log_px);
VAE_API vae_status vae_log_likelihood_stats_rows(vae_trainer* t, const vae_rows* rows,
                                                 const vae_likelihood_options* options,
                                                 const vae_likelihood_rows* out);
VAE_API vae_status vae_encode_rows(vae_trainer* t, const vae_rows* rows, float* mu,
                                   float* logvar);
/* Row i decodes z_i (rows->data) under condition c_i. */
VAE_API vae_status vae_decode_rows(vae_trainer* t, const vae_rows* rows, float* mean);
/* rows->n draws z ~ p(z), draw i decoded under condition c_i (the draws
 * are those of vae_sample with the same n on a trainer in the same state). */
VAE_API vae_status vae_sample_rows(vae_trainer* t, const vae_rows* rows, float* mean);
VAE_API vae_status vae_refine_posterior_rows(vae_trainer* t, const vae_rows* rows,
                                             const vae_refine_options* options,
                                             const vae_refine_rows* out);

/* A dataset's conditions, one row each of its n rows, kept by the backend
 * beside the rows; every dataset call (vae_train_epoch, the evaluations,
 * vae_latent_usage) gives row i its condition. A conditional trainer
 * refuses a dataset without them. ds must be t's. Setting them again
 * replaces them; on failure the dataset keeps what it had. n must be the
 * dataset's size.
 *   vae_dataset_set_conditions: n x C floats, host or (CUDA) device memory;
 *   vae_dataset_set_labels: n class labels, bytes in host memory, each
 *     below C: label l is the one-hot condition e_l, made on the backend
 *     as the rows are used (the labels stay bytes). */
VAE_API vae_status vae_dataset_set_conditions(vae_trainer* t, vae_dataset* ds,
                                              const float* condition, int64_t n);
VAE_API vae_status vae_dataset_set_labels(vae_trainer* t, vae_dataset* ds, const uint8_t* labels,
                                          int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* VAE_VAE_H */
