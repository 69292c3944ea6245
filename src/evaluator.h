// The evaluation calls' work on one backend (src/evaluation.h): the
// evaluation workspace, sized for a call's plan and kept between calls, and
// the steps of one chunk over the backend's primitives. The staging of the
// chunk's rows and the copies to the caller are the trainer's.
//
// The workspace holds three kinds of buffers: per staged row (the rows, the
// encoder's outputs, the results), per pair of a chunk (its log q - log p and
// its value), and the decoder's (eps, z, each layer's outputs) for as many
// pairs as the backend decodes at once: a whole chunk on the GPU, a tile per
// thread on the CPU (Ops::eval_decoder_rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "eval_buffers.h"
#include "evaluation.h"
#include "network.h"
#include "workspace_cursor.h"

namespace vae {

template <class Ops>
class Evaluator {
 public:
  using T = typename Ops::Scalar;

  Evaluator(Ops& ops, const Network<Ops>& net, int64_t dim, int64_t latent)
      : ops_(ops), net_(net), dim_(dim), latent_(latent) {
    b_.enc_out.resize(net.layout().encoder.size());
    b_.dec_out.resize(net.layout().decoder.size());
  }

  // The sizes of a call over n rows with k samples each; eval_rows is
  // VAE_OPT_EVAL_ROWS, 0 for the backend's budget (Ops::kEvaluationBytes).
  EvalPlan plan(int64_t n, int64_t k, int64_t eval_rows) const {
    const int64_t tile = eval_tile(net_.layout().widest);
    const int64_t rows = eval_rows > 0 ? eval_rows : automatic_rows(k, tile);
    EvalPlan p = make_eval_plan(n, k, rows, net_.layout().widest);
    p.decoder_rows = ops_.eval_decoder_rows(p.chunk_pairs, p.tile);
    return p;
  }

  // Makes the workspace hold plan p's chunks: keeps it when it is large
  // enough, else allocates a larger one. Throws, keeping the old one, when
  // memory cannot be had.
  void reserve(const EvalPlan& p) {
    if (p.chunk_pairs <= size_.chunk_pairs && p.row_capacity <= size_.row_capacity &&
        p.decoder_rows <= size_.decoder_rows) {
      return;
    }
    EvalPlan size;
    size.chunk_pairs = std::max(p.chunk_pairs, size_.chunk_pairs);
    size.row_capacity = std::max(p.row_capacity, size_.row_capacity);
    size.decoder_rows = std::max(p.decoder_rows, size_.decoder_rows);
    EvalBuffers<T> sizing = b_;
    T* base = ops_.reserve_evaluation(layout(size, nullptr, &sizing));
    layout(size, base, &b_);
    size_ = size;
  }

  // Gives the workspace back (VAE_OPT_EVAL_ROWS changed).
  void release() {
    ops_.release_evaluation();
    size_ = EvalPlan{};
  }

  EvalBuffers<T>& buffers() { return b_; }

  // Chunk c on its staged rows (buffers().x): encoder, samples, the rows'
  // accumulators; the done rows' results in buffers().results.
  void run(const EvalChunk& c, EvalMode mode, const NoiseKey& key) {
    const EvalModel<T> m = model();
    const T* input = b_.x;
    if (m.condition_dim > 0) {
      ops_.join_condition(b_.x, dim_, b_.condition, m.condition_dim, ConditionRows{}, c.rows,
                          b_.encoder_input);
      input = b_.encoder_input;
    }
    ops_.encode_tiles(m, input, c.rows, b_.enc_out);
    ops_.sample_values(m, c, mode, key, b_);
    ops_.accumulate_rows(m, c, mode, b_);
  }

 private:
  EvalModel<T> model() const {
    EvalModel<T> m;
    m.layout = &net_.layout();
    m.params = net_.buffers().params;
    m.likelihood = net_.likelihood();
    m.learned_log_variance = net_.learned_log_variance();
    m.prior = net_.prior();
    m.dim = dim_;
    m.latent = latent_;
    m.condition_dim = net_.layout().condition_dim;
    return m;
  }

  // Elements per decoded pair (eps, z, [z | c], the decoder's outputs), per
  // pair of a chunk (kl_sample, values) and per staged row (x, c, [x | c],
  // the encoder's outputs, three results).
  int64_t condition_dim() const { return net_.layout().condition_dim; }
  int64_t decoder_elements() const {
    int64_t e = 2 * latent_;
    if (condition_dim() > 0) e += latent_ + condition_dim();
    for (const LinearLayer& l : net_.layout().decoder) e += l.out;
    return e;
  }
  static constexpr int64_t kPairElements = 2;
  int64_t row_elements() const {
    int64_t e = dim_ + 3;
    if (condition_dim() > 0) e += dim_ + 2 * condition_dim();
    for (const LinearLayer& l : net_.layout().encoder) e += l.out;
    return e;
  }

  // As many pairs as the backend's budget holds, with a staged row for
  // every k of them, and no more than Ops::kEvaluationMaxPairs (a chunk
  // then takes a moment, and progress comes often).
  int64_t automatic_rows(int64_t k, int64_t tile) const {
    const int64_t budget = static_cast<int64_t>(Ops::kEvaluationBytes / sizeof(T));
    const int64_t per_pair = kPairElements + (row_elements() + k - 1) / k;
    constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();
    const int64_t decoded = ops_.eval_decoder_rows(kUnbounded, tile);
    int64_t pairs;
    if (decoded < kUnbounded) {  // the decoder's buffers do not grow with the chunk
      pairs = (budget - std::min(budget, decoded * decoder_elements())) / per_pair;
    } else {
      pairs = budget / (per_pair + decoder_elements());
    }
    return std::min(pairs, static_cast<int64_t>(Ops::kEvaluationMaxPairs));
  }

  // The workspace's elements for a plan's sizes, pointing b's buffers into
  // it from base (null: only counting), each aligned (WorkspaceCursor).
  // Allocates nothing: b's layer lists have their sizes.
  size_t layout(const EvalPlan& size, T* base, EvalBuffers<T>* b) const {
    WorkspaceCursor<T> cursor(base);
    auto take = [&](int64_t count) { return cursor.take(static_cast<size_t>(count)); };
    const ParameterLayout& net = net_.layout();
    const int64_t rows = size.row_capacity;
    const int64_t decoded = size.decoder_rows;
    const int64_t C = condition_dim();
    b->x = take(rows * dim_);
    b->condition = C > 0 ? take(rows * C) : nullptr;
    b->encoder_input = C > 0 ? take(rows * (dim_ + C)) : nullptr;
    for (size_t l = 0; l < net.encoder.size(); ++l) b->enc_out[l] = take(rows * net.encoder[l].out);
    b->eps = take(decoded * latent_);
    b->z = take(decoded * latent_);
    b->decoder_input = C > 0 ? take(decoded * (latent_ + C)) : nullptr;
    for (size_t l = 0; l < net.decoder.size(); ++l) b->dec_out[l] = take(decoded * net.decoder[l].out);
    b->kl_sample = take(size.chunk_pairs);
    b->values = take(size.chunk_pairs);
    b->carry = take(2 * kEvalCarry);
    for (T*& r : b->results) r = take(rows);
    return cursor.used();
  }

  Ops& ops_;
  const Network<Ops>& net_;
  int64_t dim_, latent_;
  EvalPlan size_;  // what the workspace holds: chunk_pairs, row_capacity, decoder_rows
  EvalBuffers<T> b_;
};

}  // namespace vae
