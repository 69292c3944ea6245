// The runtime's device, stream, event, capture and graph calls on the
// simulated device.
#include <memory>

#include "registry.h"
#include "state.h"

using cudasim::Registry;
using cudasim::set_error;

extern "C" {

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= cudasim::settings().device_count) {
    return set_error(cudaErrorInvalidDevice);
  }
  cudasim::select_device(device);
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return set_error(cudaErrorInvalidValue);
  *device = cudasim::current_device();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return set_error(cudaErrorInvalidValue);
  if (device < 0 || device >= cudasim::settings().device_count) {
    return set_error(cudaErrorInvalidDevice);
  }
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = cudasim::settings().sm_count; return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
  }
  return set_error(cudaErrorInvalidValue);
}

cudaError_t cudaDeviceSynchronize(void) {
  const cudaError_t unsafe = Registry::get().unsafe_call();
  if (unsafe != cudaSuccess) return set_error(unsafe);
  Registry::get().synchronize_device();
  return set_error(cudasim::sticky_error());
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr || (flags & ~0x1u) != 0) return set_error(cudaErrorInvalidValue);
  *stream = Registry::get().create_stream(cudasim::current_device(), flags);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  return set_error(Registry::get().destroy_stream(stream));
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return set_error(Registry::get().synchronize(stream));
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  const std::shared_ptr<cudasim::Stream> s = Registry::get().resolve(stream);
  if (s == nullptr) return set_error(cudaErrorInvalidResourceHandle);
  return s->reached(s->last_ticket()) ? cudasim::sticky_error() : cudaErrorNotReady;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  if (flags != 0) return set_error(cudaErrorInvalidValue);
  return set_error(Registry::get().wait_event(stream, event));
}

cudaError_t cudaStreamGetDevice(cudaStream_t stream, int* device) {
  if (device == nullptr) return set_error(cudaErrorInvalidValue);
  const std::shared_ptr<cudasim::Stream> s = Registry::get().resolve(stream);
  if (s == nullptr) return set_error(cudaErrorInvalidResourceHandle);
  *device = s->device();
  return cudaSuccess;
}

cudaError_t cudaStreamGetFlags(cudaStream_t stream, unsigned int* flags) {
  if (flags == nullptr) return set_error(cudaErrorInvalidValue);
  const std::shared_ptr<cudasim::Stream> s = Registry::get().resolve(stream);
  if (s == nullptr) return set_error(cudaErrorInvalidResourceHandle);
  *flags = s->flags();
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (event == nullptr || (flags & ~0x3u) != 0) return set_error(cudaErrorInvalidValue);
  *event = Registry::get().create_event(flags);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!Registry::get().known_event(event)) return set_error(cudaErrorInvalidResourceHandle);
  Registry::get().destroy_event(event);
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  return set_error(Registry::get().record_event(event, stream));
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  cudasim::Dependency on;
  bool captured = false;
  if (!Registry::get().event_state(event, &on, &captured)) {
    return set_error(cudaErrorInvalidResourceHandle);
  }
  if (captured) return set_error(cudaErrorCapturedEvent);
  const cudaError_t unsafe = Registry::get().unsafe_call();
  if (unsafe != cudaSuccess) return set_error(unsafe);
  if (on.stream != nullptr) on.stream->wait(on.ticket);
  return set_error(cudasim::sticky_error());
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  cudasim::Dependency on;
  bool captured = false;
  if (!Registry::get().event_state(event, &on, &captured)) {
    return set_error(cudaErrorInvalidResourceHandle);
  }
  if (captured) return set_error(cudaErrorCapturedEvent);
  if (on.stream != nullptr && !on.stream->reached(on.ticket)) return cudaErrorNotReady;
  return cudasim::sticky_error();
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  return set_error(Registry::get().begin_capture(stream, mode));
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (graph == nullptr) return set_error(cudaErrorInvalidValue);
  *graph = nullptr;
  std::shared_ptr<cudasim::Graph> captured;
  const cudaError_t e = Registry::get().end_capture(stream, &captured);
  if (e != cudaSuccess) return set_error(e);
  auto handle = std::make_unique<CUgraph_st>();
  handle->graph = std::move(captured);
  *graph = handle.release();  // owned by the caller until cudaGraphDestroy
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (status == nullptr) return set_error(cudaErrorInvalidValue);
  return set_error(Registry::get().capture_status(stream, status));
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (exec == nullptr || graph == nullptr) return set_error(cudaErrorInvalidValue);
  auto handle = std::make_unique<CUgraphExec_st>();
  handle->graph = graph->graph;
  *exec = handle.release();  // owned by the caller until cudaGraphExecDestroy
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return set_error(cudaErrorInvalidValue);
  std::shared_ptr<const cudasim::Graph> graph = exec->graph;
  cudasim::Operation replay{"graph launch",
                            [graph] {
                              for (const cudasim::Operation& op : graph->operations) {
                                if (cudasim::sticky_error() != cudaSuccess) return;
                                if (op.run) op.run();
                              }
                            },
                            {}};
  return set_error(Registry::get().enqueue(stream, std::move(replay)));
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  std::unique_ptr<CUgraph_st> owned(graph);
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  std::unique_ptr<CUgraphExec_st> owned(exec);
  return cudaSuccess;
}

}  // extern "C"
