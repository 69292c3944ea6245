#include "cuda/cuda_graphs.h"

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

void StepGraphs::run(const StepGraph& graph, cudaStream_t stream,
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
  }
  for (const Entry& e : entries_) {
    if (e.key == key) {
      check_cuda(cudaGraphLaunch(e.exec.get(), stream), "cudaGraphLaunch");
      return;
    }
  }
  const Graph captured = capture(stream, enqueue);
  ++captured_;
  cudaGraphExec_t exec = nullptr;
  check_cuda(cudaGraphInstantiate(&exec, captured.get(), 0), "cudaGraphInstantiate");
  Entry entry{key, GraphExec(exec)};
  if (entries_.size() == kMaxGraphs) entries_.erase(entries_.begin());
  entries_.push_back(std::move(entry));
  check_cuda(cudaGraphLaunch(entries_.back().exec.get(), stream), "cudaGraphLaunch");
}

}  // namespace vae::cuda_detail
