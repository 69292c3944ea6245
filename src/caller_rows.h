// Rows of a caller's array copied into backend memory and checked in the
// same pass (DESIGN.md section 4: data is checked where it is first read).
// A refusal names the caller's argument, the row as the caller counts it
// and the column.
#pragma once

#include <atomic>
#include <cstdint>

#include "cpu/thread_pool.h"
#include "input_check.h"

namespace vae {

struct CallerRows {
  const char* name = "x";         // the caller's argument
  const float* values = nullptr;  // rows x dim floats, row-major, host memory
  int64_t rows = 0;
  int64_t dim = 0;
  int64_t first_row = 0;          // the caller's index of the first of these rows
  bool bernoulli = false;         // values must also lie in [0, 1]

  int64_t count() const { return rows * dim; }
};

// Copies elements [begin, end) of in.values to dst[begin, end), converting to
// T; returns whether input_value_ok refuses any of them. One pass, no branch
// per element: the loop vectorizes.
template <class T>
bool copy_finding_refused(const CallerRows& in, T* dst, int64_t begin, int64_t end) {
  const float* src = in.values;
  unsigned refused = 0;
  if (in.bernoulli) {
    for (int64_t e = begin; e < end; ++e) {
      const float v = src[e];
      dst[e] = T(v);
      refused |= !input_value_ok(v, true);
    }
  } else {
    for (int64_t e = begin; e < end; ++e) {
      const float v = src[e];
      dst[e] = T(v);
      refused |= !input_value_ok(v, false);
    }
  }
  return refused != 0;
}

// Throws Error(VAE_ERROR_INVALID_ARGUMENT) naming element e of `in`, whose
// value v input_value_ok refuses: its row (first_row + e / dim), column and
// value.
[[noreturn]] void refuse_caller_value(const CallerRows& in, int64_t e, float v);

// Throws Error(VAE_ERROR_INVALID_ARGUMENT) naming the first value of `in`
// that input_value_ok refuses: its row (first_row + r), column and value.
// For a refusal already found; it locates the value with a second look.
[[noreturn]] void refuse_caller_rows(const CallerRows& in);

// Copies the rows into dst (in.count() elements) in parts on the pool,
// checking each value as it is copied; throws as refuse_caller_rows when
// one is refused (dst then holds a partial copy).
template <class T>
void copy_checked_rows(const CallerRows& in, T* dst, ThreadPool& pool) {
  std::atomic<bool> refused{false};
  pool.run(in.count(), [&](int64_t begin, int64_t end) {
    if (copy_finding_refused(in, dst, begin, end)) refused = true;
  }, int64_t{1} << 14);
  if (refused) refuse_caller_rows(in);
}

}  // namespace vae
