#include "cuda/cuda_graphs.h"

#include <algorithm>
#include <utility>

#include "cuda/cuda_check.h"
#include "dataset.h"

namespace vae::cuda_detail {

void GraphExecDestroy::operator()(cudaGraphExec_t g) const noexcept {
  static_cast<void>(cudaGraphExecDestroy(g));
}

namespace {

struct GraphDestroy {
  void operator()(cudaGraph_t g) const noexcept { static_cast<void>(cudaGraphDestroy(g)); }
};
using Graph = std::unique_ptr<std::remove_pointer_t<cudaGraph_t>, GraphDestroy>;

// Captures enqueue()'s work on `stream` into a graph. The capture is ended
// whatever happens, so a failure leaves the stream usable. Thread-local mode:
// other threads' CUDA calls are not affected by this capture.
Graph capture(cudaStream_t stream, const std::function<void()>& enqueue) {
  check_cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
             "cudaStreamBeginCapture");
  try {
    enqueue();
  } catch (...) {
    cudaGraph_t abandoned = nullptr;
    static_cast<void>(cudaStreamEndCapture(stream, &abandoned));
    Graph discard(abandoned);
    static_cast<void>(cudaGetLastError());
    throw;
  }
  cudaGraph_t graph = nullptr;
  check_cuda(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
  return Graph(graph);
}

}  // namespace

void StepGraphs::run(const StepGraph& graph, cudaStream_t capture_stream,
                     cudaStream_t launch_stream, const std::function<void()>& run_eagerly,
                     const std::function<void()>& enqueue) {
  Key key;
  key.rows = graph.rows;
  if (graph.dataset != nullptr) {
    const Dataset& ds = *graph.dataset;
    key.dataset = &ds;
    key.values = ds.bytes ? static_cast<const void*>(ds.u8) : static_cast<const void*>(ds.floats);
    key.order = ds.order;
    key.dim = ds.dim;
    key.bytes = ds.bytes;
    key.transform = static_cast<int>(ds.transform);
    key.labels = ds.labels != nullptr;
    key.conditions =
        key.labels ? static_cast<const void*>(ds.labels) : static_cast<const void*>(ds.conditions);
    key.condition_dim = ds.condition_dim;
  }
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->key == key) {
      std::rotate(it, it + 1, entries_.end());  // now the most recently used
      check_cuda(cudaGraphLaunch(entries_.back().exec.get(), launch_stream), "cudaGraphLaunch");
      return;
    }
  }
  const auto seen = std::find(seen_.begin(), seen_.end(), key);
  if (seen == seen_.end()) {
    if (seen_.size() == kMaxGraphs) seen_.erase(seen_.begin());
    seen_.push_back(key);
    run_eagerly();
    return;
  }
  seen_.erase(seen);
  const Graph captured = capture(capture_stream, enqueue);
  ++captured_;
  cudaGraphExec_t exec = nullptr;
  check_cuda(cudaGraphInstantiate(&exec, captured.get(), 0), "cudaGraphInstantiate");
  Entry entry{key, GraphExec(exec)};
  if (entries_.size() == kMaxGraphs) entries_.erase(entries_.begin());
  entries_.push_back(std::move(entry));
  check_cuda(cudaGraphLaunch(entries_.back().exec.get(), launch_stream), "cudaGraphLaunch");
}

}  // namespace vae::cuda_detail
