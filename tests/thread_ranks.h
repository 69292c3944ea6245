// Ranks as threads of one process, for the tests of data-parallel training
// (vae_set_allreduce) without MPI: ThreadRanks runs a body on W threads at
// once, and its hook sums the ranks' buffers in rank order, so every rank
// gets bit for bit the same sums, as MPI_Allreduce gives them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vae/vae.h"

namespace vae::testing {

class ThreadRanks {
 public:
  // What a rank's trainer is given as the hook's user_data.
  struct Member {
    ThreadRanks* ranks;
    int rank;
  };

  explicit ThreadRanks(int world) : world_(world), buffers_(static_cast<size_t>(world)) {
    for (int r = 0; r < world; ++r) members_.push_back(Member{this, r});
  }

  int world() const { return world_; }
  Member* member(int rank) { return &members_[static_cast<size_t>(rank)]; }
  int64_t calls() const { return calls_; }

  // Runs body(rank) for every rank, each on its own thread, and waits for all.
  void run(const std::function<void(int)>& body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < world_; ++r) threads.emplace_back(body, r);
    for (std::thread& t : threads) t.join();
  }

  // The hook: user_data is a Member.
  static int hook(void* user_data, float* buffer, int64_t count, int on_device, void*,
                  char* message, size_t message_size) {
    auto* m = static_cast<Member*>(user_data);
    if (on_device != 0) return refuse(message, message_size, "device memory");
    return m->ranks->sum(m->rank, buffer, count, message, message_size);
  }

 private:
  static vae_status refuse(char* message, size_t size, const std::string& why) {
    std::snprintf(message, size, "ThreadRanks: %s", why.c_str());
    return VAE_ERROR_DEVICE;
  }

  // Waits until every rank has arrived; false after 60 s without them (a
  // rank that never calls: the test fails instead of hanging).
  bool barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    if (++arrived_ == world_) {
      arrived_ = 0;
      ++generation_;
      arrived_cv_.notify_all();
      return true;
    }
    return arrived_cv_.wait_for(lock, std::chrono::seconds(60),
                                [&] { return generation_ != generation; });
  }

  vae_status sum(int rank, float* buffer, int64_t count, char* message, size_t size) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      buffers_[static_cast<size_t>(rank)] = Posted{buffer, count};
      if (rank == 0) ++calls_;
    }
    if (!barrier()) return refuse(message, size, "a rank did not call the hook");
    std::vector<float> total(static_cast<size_t>(count), 0.0f);
    for (const Posted& p : buffers_) {
      if (p.count != count) {
        barrier();
        return refuse(message, size, "the ranks passed different counts");
      }
      for (int64_t e = 0; e < count; ++e) total[static_cast<size_t>(e)] += p.values[e];
    }
    // Every rank has read every buffer before any is overwritten.
    if (!barrier()) return refuse(message, size, "a rank did not finish the sum");
    std::memcpy(buffer, total.data(), sizeof(float) * total.size());
    return VAE_OK;
  }

  struct Posted {
    const float* values = nullptr;
    int64_t count = 0;
  };

  int world_;
  std::vector<Member> members_;
  std::vector<Posted> buffers_;
  std::mutex mutex_;
  std::condition_variable arrived_cv_;
  int arrived_ = 0;
  int64_t generation_ = 0;
  int64_t calls_ = 0;
};

}  // namespace vae::testing
