// The evaluation calls' work on one backend (src/evaluation.h): the
// evaluation workspace, sized for a call's plan and kept between calls, and
// the steps of one chunk over the backend's primitives. The staging of the
// chunk's rows and the copies to the caller are the trainer's.
#pragma once

#include <algorithm>
#include <cstdint>

#include "eval_buffers.h"
#include "evaluation.h"
#include "network.h"

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
    const int64_t rows = eval_rows > 0 ? eval_rows : automatic_rows(k);
    return make_eval_plan(n, k, rows, net_.layout().widest);
  }

  // Makes the workspace hold plan p's chunks: keeps it when it is large
  // enough, else allocates a larger one. Throws, keeping the old one, when
  // memory cannot be had.
  void reserve(const EvalPlan& p) {
    if (p.chunk_pairs <= pairs_ && p.row_capacity <= rows_) return;
    const int64_t pairs = std::max(p.chunk_pairs, pairs_);
    const int64_t rows = std::max(p.row_capacity, rows_);
    EvalBuffers<T> sizing = b_;
    T* base = ops_.reserve_evaluation(layout(pairs, rows, nullptr, &sizing));
    layout(pairs, rows, base, &b_);
    pairs_ = pairs;
    rows_ = rows;
  }

  // Gives the workspace back (VAE_OPT_EVAL_ROWS changed).
  void release() {
    ops_.release_evaluation();
    pairs_ = rows_ = 0;
  }

  EvalBuffers<T>& buffers() { return b_; }

  // Chunk c on its staged rows (buffers().x): encoder, samples, the rows'
  // accumulators; the done rows' results in buffers().results.
  void run(const EvalChunk& c, EvalMode mode, const NoiseKey& key) {
    const EvalModel<T> m = model();
    ops_.encode_tiles(m, b_.x, c.rows, b_.enc_out);
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
    m.dim = dim_;
    m.latent = latent_;
    return m;
  }

  // Elements of the per-pair buffers (eps, z, kl_sample, the decoder's
  // outputs, values) and of the per-row ones (x, the encoder's outputs, three
  // results).
  int64_t pair_elements() const {
    int64_t e = 2 * latent_ + 2;
    for (const LinearLayer& l : net_.layout().decoder) e += l.out;
    return e;
  }
  int64_t row_elements() const {
    int64_t e = dim_ + 3;
    for (const LinearLayer& l : net_.layout().encoder) e += l.out;
    return e;
  }
  // As many pairs as the budget holds, with a row for every k of them (a
  // chunk of pairs stages about that many rows).
  int64_t automatic_rows(int64_t k) const {
    const int64_t bytes = static_cast<int64_t>(Ops::kEvaluationBytes);
    const int64_t per_pair = pair_elements() + (row_elements() + k - 1) / k;
    return bytes / static_cast<int64_t>(sizeof(T)) / per_pair;
  }

  // The workspace's elements for `pairs` pairs and `rows` rows, pointing
  // b's buffers into it from base (null: only counting). Every buffer starts
  // on a multiple of kAlign elements (256 bytes of floats, as cuBLASLt
  // likes). Allocates nothing: b's layer lists have their sizes.
  size_t layout(int64_t pairs, int64_t rows, T* base, EvalBuffers<T>* b) const {
    constexpr size_t kAlign = 64;
    size_t used = 0;
    auto take = [&](int64_t count) {
      T* p = base != nullptr ? base + used : nullptr;
      used += (static_cast<size_t>(count) + kAlign - 1) / kAlign * kAlign;
      return p;
    };
    const ParameterLayout& net = net_.layout();
    b->x = take(rows * dim_);
    for (size_t l = 0; l < net.encoder.size(); ++l) b->enc_out[l] = take(rows * net.encoder[l].out);
    b->eps = take(pairs * latent_);
    b->z = take(pairs * latent_);
    b->kl_sample = take(pairs);
    for (size_t l = 0; l < net.decoder.size(); ++l) b->dec_out[l] = take(pairs * net.decoder[l].out);
    b->values = take(pairs);
    b->precision = take(dim_);
    b->carry = take(4);
    for (T*& r : b->results) r = take(rows);
    return used;
  }

  Ops& ops_;
  const Network<Ops>& net_;
  int64_t dim_, latent_;
  int64_t pairs_ = 0, rows_ = 0;  // what the workspace holds
  EvalBuffers<T> b_;
};

}  // namespace vae
