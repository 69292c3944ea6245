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

// A step's shape seen once runs eagerly (a batch size used once, such as an
// epoch's last partial batch of an unusual size, is not worth a capture); seen
// again, it is captured, and from then on replayed. The graphs are kept
// least recently used first, so sizes that keep coming back keep theirs
// however many others pass by.
class StepGraphs {
 public:
  // Runs the step of `graph` on `launch`: enqueue() itself the first time,
  // a capture of it the second (made on `capture`, the trainer's own
  // non-blocking stream, which no other thread's use of the legacy stream
  // can disturb; enqueue() must queue its work there), then replays.
  void run(const StepGraph& graph, cudaStream_t capture, cudaStream_t launch,
           const std::function<void()>& run_eagerly, const std::function<void()>& enqueue);
  // Drops every graph (the options they were captured with changed).
  void clear() {
    entries_.clear();
    seen_.clear();
  }
  // Graphs captured so far, dropped ones included.
  int64_t captured() const { return captured_; }

 private:
  // What the captured launches depend on: the rows and, for an epoch's step,
  // the dataset's device memory and layout, its conditions' included (a
  // dataset made later at the same address with other memory or another
  // transform, or given new conditions, is another key).
  struct Key {
    int64_t rows = 0;
    const void* dataset = nullptr;
    const void* values = nullptr;
    const void* order = nullptr;
    const void* conditions = nullptr;
    int64_t dim = 0;
    int64_t condition_dim = 0;
    bool bytes = false;
    bool labels = false;
    int transform = 0;
    bool operator==(const Key& o) const {
      return rows == o.rows && dataset == o.dataset && values == o.values && order == o.order &&
             conditions == o.conditions && dim == o.dim && condition_dim == o.condition_dim &&
             bytes == o.bytes && labels == o.labels && transform == o.transform;
    }
  };
  struct Entry {
    Key key;
    GraphExec exec;
  };
  // A full and a partial batch per dataset, and the step sizes a caller
  // uses: a few; the least recently used goes when the cache is full. The
  // shapes seen once, as many, are remembered the same way.
  static constexpr size_t kMaxGraphs = 16;
  std::vector<Entry> entries_;  // least recently used first
  std::vector<Key> seen_;       // run eagerly once, least recently seen first
  int64_t captured_ = 0;
};

}  // namespace vae::cuda_detail
