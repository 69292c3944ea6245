// The streams and events of the simulated device, and the rules that tie
// them together: handle lookup, the legacy default stream and each host
// thread's per-thread default stream, stream capture and the calls it
// forbids.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "stream.h"

struct CUevent_st {
  unsigned int flags = 0;
  std::shared_ptr<cudasim::Stream> stream;  // where it was last recorded; null: never
  uint64_t ticket = 0;
  bool captured = false;  // last recorded into a capture
};

struct CUgraph_st {
  std::shared_ptr<cudasim::Graph> graph;
};

struct CUgraphExec_st {
  std::shared_ptr<const cudasim::Graph> graph;
};

namespace cudasim {

class Registry {
 public:
  // The one registry; it lives as long as the process.
  static Registry& get();

  // The stream a handle names (null and cudaStreamLegacy: the legacy
  // stream; cudaStreamPerThread: this thread's); null for an unknown handle.
  std::shared_ptr<Stream> resolve(cudaStream_t handle);
  cudaStream_t create_stream(int device, unsigned int flags);
  cudaError_t destroy_stream(cudaStream_t handle);

  // Queues op on the stream, or records it into the stream's capture.
  // Returns CUDA's error for an unknown handle, a capture made invalid, or
  // a use of the legacy stream while a blocking stream captures.
  cudaError_t enqueue(cudaStream_t handle, Operation op, std::shared_ptr<Stream>* stream = nullptr,
                      uint64_t* ticket = nullptr);

  // A call CUDA deems unsafe during capture (allocation, freeing,
  // synchronous copies, synchronization) on this thread: when a capture
  // forbids it, that capture is invalidated and the call must fail with the
  // error returned.
  cudaError_t unsafe_call();

  cudaError_t begin_capture(cudaStream_t handle, cudaStreamCaptureMode mode);
  cudaError_t end_capture(cudaStream_t handle, std::shared_ptr<Graph>* graph);
  cudaError_t capture_status(cudaStream_t handle, cudaStreamCaptureStatus* status);

  cudaError_t record_event(cudaEvent_t event, cudaStream_t handle);
  cudaError_t wait_event(cudaStream_t handle, cudaEvent_t event);
  cudaEvent_t create_event(unsigned int flags);
  bool known_event(cudaEvent_t event);
  // Where the event was last recorded (on.stream null: never); false for an
  // unknown event.
  bool event_state(cudaEvent_t event, Dependency* on, bool* captured);
  void destroy_event(cudaEvent_t event);

  // The host waits for the stream's queued work, or the device's.
  cudaError_t synchronize(cudaStream_t handle);
  void synchronize_device();

 private:
  Registry();
  std::shared_ptr<Stream> resolve_locked(cudaStream_t handle);
  std::shared_ptr<Stream> per_thread_stream_locked();
  // Marks the captures that forbid unsafe calls on this thread invalid.
  bool invalidate_restricting_captures_locked();
  void drop_per_thread_stream(std::thread::id thread);

  std::mutex mutex_;
  std::shared_ptr<Stream> legacy_;
  std::map<Stream*, std::shared_ptr<Stream>> streams_;
  std::map<std::thread::id, std::shared_ptr<Stream>> per_thread_;
  std::map<CUevent_st*, std::unique_ptr<CUevent_st>> events_;

  friend struct PerThreadStreamOwner;
};

// The device the calling thread has selected (cudaSetDevice).
int current_device();
void select_device(int device);

}  // namespace cudasim
