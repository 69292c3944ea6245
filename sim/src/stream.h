// Streams of the simulated device. Each stream's operations run in order on
// a worker thread of its own, so queued work really is asynchronous: a host
// read of a device result without a wait sees the race (and TSan reports
// it). The legacy default stream's implicit synchronization is CUDA's: its
// work waits for the blocking streams' earlier work, theirs for its.
//
// A stream under capture records instead of running (graph.h); the calls
// CUDA forbids during capture fail with CUDA's error codes and invalidate it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_runtime_api.h"

namespace cudasim {

class Stream;

// "Wait until stream has run the operation of this ticket."
struct Dependency {
  std::shared_ptr<Stream> stream;
  uint64_t ticket = 0;
};

// One queued operation; run() may be empty (a marker for events).
struct Operation {
  std::string what;
  std::function<void()> run;
  std::vector<Dependency> after;
};

// A graph: operations captured from one stream, replayed in order.
struct Graph {
  std::vector<Operation> operations;
};

struct Capture {
  std::shared_ptr<Graph> graph;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id thread;
  bool invalidated = false;
};

class Stream {
 public:
  Stream(int device, unsigned int flags, bool legacy);
  ~Stream();  // runs what is queued, then stops the worker
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int device() const { return device_; }
  unsigned int flags() const { return flags_; }
  bool legacy() const { return legacy_; }
  // Synchronizes implicitly with the legacy stream.
  bool blocking() const { return !legacy_ && (flags_ & cudaStreamNonBlocking) == 0; }

  // Queues op; returns its ticket (1, 2, ...).
  uint64_t push(Operation op);
  uint64_t last_ticket() const;
  bool reached(uint64_t ticket) const;
  // Blocks the calling thread until the operation of `ticket` has run.
  void wait(uint64_t ticket) const;

  // The capture in progress, guarded by the registry's lock (registry.h).
  std::unique_ptr<Capture> capture;

 private:
  void work();

  const int device_;
  const unsigned int flags_;
  const bool legacy_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<std::pair<uint64_t, Operation>> queue_;
  uint64_t pushed_ = 0;
  uint64_t done_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace cudasim
