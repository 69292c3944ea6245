// How the evaluation calls (vae_evaluate, vae_log_likelihood and their
// dataset forms) cut their work into chunks, the same for every backend.
//
// A call over n data rows with K samples each has n K decoder rows, "pairs":
// pair g = r K + s is sample s of data row r. Its noise is element
// g Z + j (latent j) of the call's noise array, so a pair draws the same
// numbers however the call is cut. A chunk is a run of pairs that starts at a
// multiple of the tile (eval_tile pairs, the CPU backend's unit of work) and
// holds the evaluation rows (VAE_OPT_EVAL_ROWS, rounded down to whole
// tiles); it stages and encodes the data rows of its pairs, rounded out to
// whole row tiles (kEvalRowTile rows). Tiles are fixed by the call alone, so
// every tile's products are the same whatever the chunk size or thread count.
//
// Each data row keeps an accumulator over its samples, in sample order: a
// running log-sum-exp of the log weights (likelihood estimators) or a sum of
// log p(x|z) (evaluation). A row cut by a chunk boundary carries its
// accumulator into the next chunk; a row's results are written by the chunk
// that holds its last sample.
#pragma once

#include <algorithm>
#include <cstdint>

#include "host_device.h"

namespace vae {

// What a pair's value is and how a row combines its samples.
enum class EvalMode : int {
  kPrior = 0,       // z ~ p(z), value log p(x|z); log-mean-exp over the samples
  kImportance = 1,  // z ~ q(z|x), value log p(x|z) + log p(z) - log q(z|x); log-mean-exp
  kElbo = 2,        // z ~ q(z|x), value log p(x|z); mean, and the analytic KL
};

// Values of a row's accumulator that a row cut by a chunk's end carries
// into the next chunk (accumulate_eval_row): top, sum, sum2.
constexpr int kEvalCarry = 3;

// Pairs per decoder tile, for a model whose widest layer is `widest`: 512,
// or fewer so that a tile's widest buffer stays below 2^31 elements.
inline int64_t eval_tile(int64_t widest) {
  int64_t tile = 512;
  while (tile > 1 && tile * widest > int64_t{2147483647}) tile /= 2;
  return tile;
}

// Data rows per encoder tile.
constexpr int64_t kEvalRowTile = 32;

// The sizes one evaluation call works with.
struct EvalPlan {
  int64_t n = 0;           // data rows of the call
  int64_t k = 0;           // samples per row
  int64_t tile = 512;      // pairs per tile
  int64_t chunk_pairs = 0; // pairs per chunk: a multiple of tile
  int64_t row_capacity = 0;  // the most data rows a chunk stages
  int64_t decoder_rows = 0;  // pairs the backend decodes at once (Ops::eval_decoder_rows)

  int64_t pairs() const { return n * k; }
  int64_t chunks() const { return (pairs() + chunk_pairs - 1) / chunk_pairs; }
};

// eval_rows: VAE_OPT_EVAL_ROWS, or the backend's automatic size when 0.
inline EvalPlan make_eval_plan(int64_t n, int64_t k, int64_t eval_rows, int64_t widest) {
  EvalPlan p;
  p.n = n;
  p.k = k;
  p.tile = eval_tile(widest);
  // No more than the call has, in whole tiles, nor than keeps every buffer
  // below 2^31 elements (as Config::validate keeps the training's).
  const int64_t call_pairs = (n * k + p.tile - 1) / p.tile * p.tile;
  const int64_t fits = (int64_t{2147483647} / widest - 2 * kEvalRowTile) / p.tile * p.tile;
  p.chunk_pairs = std::min({call_pairs, std::max(p.tile, fits),
                            std::max(p.tile, eval_rows / p.tile * p.tile)});
  // The rows a chunk's pairs touch, rounded out to whole row tiles at both ends.
  const int64_t touched = std::min(n, (p.chunk_pairs + k - 1) / k + 1);
  p.row_capacity = std::min(n, touched + 2 * (kEvalRowTile - 1));
  return p;
}

// One chunk of a call.
struct EvalChunk {
  int64_t first_pair = 0;  // the call's pair index of the chunk's first pair
  int64_t pairs = 0;
  int64_t k = 0;           // samples per row
  int64_t tile = 512;
  // The data rows staged and encoded: whole row tiles from first_row on.
  int64_t first_row = 0;
  int64_t rows = 0;
  // The data rows the pairs belong to: first_pair_row .. last_pair_row.
  int64_t first_pair_row = 0;
  int64_t last_pair_row = 0;

  // Whether the first row began in an earlier chunk, and whether the last
  // row goes on into a later one.
  VAE_HD bool continues_first() const { return first_pair > first_pair_row * k; }
  VAE_HD bool continues_last() const { return first_pair + pairs < (last_pair_row + 1) * k; }
  // Rows whose last sample is in this chunk: [first_pair_row, done_end()).
  VAE_HD int64_t done_end() const { return continues_last() ? last_pair_row : last_pair_row + 1; }
  VAE_HD int64_t pair_rows() const { return last_pair_row - first_pair_row + 1; }
};

inline EvalChunk eval_chunk(const EvalPlan& p, int64_t index) {
  EvalChunk c;
  c.first_pair = index * p.chunk_pairs;
  c.pairs = std::min(p.chunk_pairs, p.pairs() - c.first_pair);
  c.k = p.k;
  c.tile = p.tile;
  c.first_pair_row = c.first_pair / p.k;
  c.last_pair_row = (c.first_pair + c.pairs - 1) / p.k;
  c.first_row = c.first_pair_row / kEvalRowTile * kEvalRowTile;
  const int64_t end_row = std::min(p.n, (c.last_pair_row / kEvalRowTile + 1) * kEvalRowTile);
  c.rows = end_row - c.first_row;
  return c;
}

}  // namespace vae
