// A fork-join pool for the CPU backend's element loops: run(count, fn) splits
// [0, count) into one contiguous part per thread, runs fn(begin, end) on each
// (the calling thread takes the first) and returns when all are done. Each
// element is computed by the same code whatever the split, so results do not
// depend on the thread count. Nothing is allocated per call.
//
// A step hands work to the threads a dozen times, some of it a few
// microseconds long, so a hand-off must cost less than a sleep and a wake-up:
// a worker that has finished watches for the next run for a while before it
// sleeps on the condition variable, and so does the caller waiting for the
// workers. How long adapts (SpinBudget): up to about 50 microseconds while
// the waits end that way, as on a machine with a core for each thread, down
// to well under one when they keep ending in sleep, as when the machine has
// more runnable threads than cores and a spinning thread only delays the one
// it waits for.
//
// The pool is used by one thread at a time (the trainer's caller): run and
// resize never overlap. resize keeps the workers it does not remove, and a
// worker started by it waits for the next run, never an earlier one. A
// thread that cannot start makes resize throw Error(VAE_ERROR_OUT_OF_MEMORY)
// with the pool as it was.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "error.h"

namespace vae {

// Test seam for thread-start failures: after arm(n), the n-th thread start
// from then on (1 = the next) fails as if the system had refused it, once.
// Only tests arm it.
class ThreadStartFault {
 public:
  static void arm(int64_t n) { countdown().store(n); }
  static void disarm() { countdown().store(0); }
  // Called before each thread start; true when this start is to fail.
  static bool strike() {
    int64_t left = countdown().load();
    while (left > 0 && !countdown().compare_exchange_weak(left, left - 1)) {
    }
    return left == 1;
  }

 private:
  static std::atomic<int64_t>& countdown() {
    static std::atomic<int64_t> left{0};
    return left;
  }
};

// The pause instructions a waiting thread spins before it sleeps: a 32nd of
// the most more after a wait that spinning ended, half after one that slept.
class SpinBudget {
 public:
  static constexpr int kMost = 2048;  // about 50 microseconds at a few GHz
  static constexpr int kLeast = 16;

  int pauses() const { return pauses_; }
  void ended_spinning() { pauses_ = std::min(kMost, pauses_ + kMost / 32); }
  void ended_sleeping() { pauses_ = std::max(kLeast, pauses_ / 2); }

 private:
  int pauses_ = kMost;
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { retire_from(0); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Makes the pool `threads` threads (the caller counts as one): removes
  // workers from the end or starts new ones. Throws, changing nothing, when
  // memory or a thread cannot be had.
  void resize(int threads) {
    const size_t keep = static_cast<size_t>(std::max(threads, 1) - 1);
    if (keep == workers_.size()) return;
    if (keep < workers_.size()) {
      retire_from(keep);
      return;
    }
    const size_t old = workers_.size();
    workers_.reserve(keep);
    uint64_t current = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current = generation_.load();
      active_.store(keep);
    }
    try {
      for (size_t w = old; w < keep; ++w) workers_.push_back(start_worker(w, current, keep));
    } catch (...) {
      retire_from(old);
      throw;
    }
  }

  // fn(begin, end) over [0, count) in threads() parts; parts smaller than
  // min_part elements are not worth a thread and run on fewer. fn must not
  // throw.
  template <class F>
  void run(int64_t count, F&& fn, int64_t min_part = 4096) {
    const int parts = static_cast<int>(
        std::max<int64_t>(1, std::min<int64_t>(threads(), count / std::max<int64_t>(1, min_part))));
    if (parts == 1) {
      fn(int64_t{0}, count);
      return;
    }
    auto call = [](void* context, int64_t begin, int64_t end) {
      (*static_cast<std::remove_reference_t<F>*>(context))(begin, end);
    };
    bool sleepers = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = call;
      context_ = &fn;
      count_ = count;
      parts_ = parts;
      pending_.store(parts - 1);
      generation_.store(generation_.load() + 1);
      sleepers = sleeping_ > 0;
    }
    if (sleepers) wake_.notify_all();
    fn(int64_t{0}, part_end(0));
    for (int spin = 0; spin < caller_spin_.pauses() && pending_.load() != 0; ++spin) pause();
    if (pending_.load() == 0) {
      caller_spin_.ended_spinning();
      return;
    }
    caller_spin_.ended_sleeping();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_.load() == 0; });
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  int64_t part_end(int part) const { return count_ * (part + 1) / parts_; }

  // Worker w runs part w + 1 of each run after generation `seen`, until it
  // is retired (w >= active_).
  void work(size_t w, uint64_t seen) {
    const int part = static_cast<int>(w) + 1;
    SpinBudget budget;
    for (;;) {
      for (int spin = 0;
           spin < budget.pauses() && generation_.load() == seen && w < active_.load(); ++spin) {
        pause();
      }
      std::unique_lock<std::mutex> lock(mutex_);
      if (generation_.load() == seen && w < active_.load()) {
        budget.ended_sleeping();
        ++sleeping_;
        wake_.wait(lock, [&] { return w >= active_.load() || generation_.load() != seen; });
        --sleeping_;
      } else {
        budget.ended_spinning();
      }
      if (w >= active_.load()) return;
      seen = generation_.load();
      if (part >= parts_) continue;
      const int64_t begin = count_ * part / parts_, end = part_end(part);
      void (*task)(void*, int64_t, int64_t) = task_;
      void* context = context_;
      lock.unlock();
      task(context, begin, end);
      if (pending_.fetch_sub(1) == 1) {
        // Taking the lock orders this with a caller between its check and its wait.
        { std::lock_guard<std::mutex> done_lock(mutex_); }
        done_.notify_one();
      }
    }
  }

  // Starts worker w, which waits for the first run after generation `current`.
  std::thread start_worker(size_t w, uint64_t current, size_t count) {
    try {
      if (ThreadStartFault::strike()) {
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
      }
      return std::thread([this, w, current] { work(w, current); });
    } catch (const std::system_error& e) {
      fail(VAE_ERROR_OUT_OF_MEMORY, "cannot start CPU worker thread " + std::to_string(w + 1) +
                                        " of " + std::to_string(count) + ": " + e.what());
    }
  }

  // Stops and joins the workers from index `first` on.
  void retire_from(size_t first) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      active_.store(first);
    }
    wake_.notify_all();
    for (size_t w = first; w < workers_.size(); ++w) workers_[w].join();
    workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(first), workers_.end());
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // Written under mutex_; workers watch generation_ and active_ without it
  // while they spin, and read the task under it.
  void (*task_)(void*, int64_t, int64_t) = nullptr;
  void* context_ = nullptr;
  int64_t count_ = 0;
  int parts_ = 1;
  int sleeping_ = 0;                   // workers waiting on wake_
  SpinBudget caller_spin_;             // the caller's, used by run only
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> active_{0};      // workers [0, active_) keep running
  std::atomic<int> pending_{0};        // parts of the current run not yet done
};

}  // namespace vae
