// A fork-join pool for the CPU backend's element loops: run(count, fn) splits
// [0, count) into one contiguous part per thread, runs fn(begin, end) on each
// (the calling thread takes the first) and returns when all are done. Each
// element is computed by the same code whatever the split, so results do not
// depend on the thread count. Nothing is allocated per call.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace vae {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { stop(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Restarts the pool with `threads` threads (the caller counts as one).
  void resize(int threads) {
    if (threads == this->threads()) return;
    stop();
    stopping_ = false;
    for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
  }

  // fn(begin, end) over [0, count) in threads() parts; parts smaller than
  // min_part elements are not worth a thread and run on fewer.
  template <class F>
  void run(int64_t count, F&& fn, int64_t min_part = 4096) {
    const int parts = static_cast<int>(
        std::max<int64_t>(1, std::min<int64_t>(threads(), count / std::max<int64_t>(1, min_part))));
    if (parts == 1) {
      fn(int64_t{0}, count);
      return;
    }
    auto call = [](void* context, int64_t begin, int64_t end) {
      (*static_cast<F*>(context))(begin, end);
    };
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = call;
      context_ = &fn;
      count_ = count;
      parts_ = parts;
      pending_ = parts - 1;
      ++generation_;
    }
    wake_.notify_all();
    fn(int64_t{0}, part_end(0));
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  int64_t part_end(int part) const { return count_ * (part + 1) / parts_; }

  void work(int index) {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= parts_) continue;
      const int64_t begin = count_ * index / parts_, end = part_end(index);
      void (*task)(void*, int64_t, int64_t) = task_;
      void* context = context_;
      lock.unlock();
      task(context, begin, end);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  void (*task_)(void*, int64_t, int64_t) = nullptr;
  void* context_ = nullptr;
  int64_t count_ = 0;
  int parts_ = 1;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

}  // namespace vae
