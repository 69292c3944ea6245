// The captured training steps of one trainer (DESIGN.md section 2: steps of
// a fixed shape are captured once into a CUDA graph and replayed). A step's
// launches depend only on its StepGraph (row count, dataset) and the
// trainer's options; everything that changes from step to step (the noise
// counter, Adam's constants, the epoch's position) is read from the device's
// StepState, so replaying the graph is the same as enqueuing the launches.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

#include "model_math.h"

namespace vae::cuda_detail {

struct GraphExecDestroy {
  void operator()(cudaGraphExec_t g) const noexcept;
};
using GraphExec = std::unique_ptr<std::remove_pointer_t<cudaGraphExec_t>, GraphExecDestroy>;

class StepGraphs {
 public:
  // Replays the graph of `graph` on `stream`; the first time, captures what
  // enqueue() queues on the stream into it (nothing runs during capture).
  void run(const StepGraph& graph, cudaStream_t stream, const std::function<void()>& enqueue);
  // Drops every graph (the options they were captured with changed).
  void clear() { entries_.clear(); }
  // Graphs captured so far, dropped ones included.
  int64_t captured() const { return captured_; }

 private:
  // What the captured launches depend on: the rows and, for an epoch's step,
  // the dataset's device memory and layout (a dataset made later at the same
  // address with other memory or another transform is another key).
  struct Key {
    int64_t rows = 0;
    const void* dataset = nullptr;
    const void* values = nullptr;
    const void* order = nullptr;
    int64_t dim = 0;
    bool bytes = false;
    int transform = 0;
    bool operator==(const Key& o) const {
      return rows == o.rows && dataset == o.dataset && values == o.values && order == o.order &&
             dim == o.dim && bytes == o.bytes && transform == o.transform;
    }
  };
  struct Entry {
    Key key;
    GraphExec exec;
  };
  // A full and a partial batch per dataset, and the step sizes a caller
  // uses: a few; the oldest goes when the cache is full.
  static constexpr size_t kMaxGraphs = 16;
  std::vector<Entry> entries_;
  int64_t captured_ = 0;
};

}  // namespace vae::cuda_detail
