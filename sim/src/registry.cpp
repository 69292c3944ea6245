#include "registry.h"

#include <functional>
#include <vector>

#include "cudasim/inspect.h"
#include "state.h"

namespace cudasim {
namespace {

thread_local int selected_device = 0;

std::mutex observer_mutex;
std::function<void(cudaStream_t, unsigned int)>& capture_observer() {
  static auto* const observer = new std::function<void(cudaStream_t, unsigned int)>();
  return *observer;
}

void observe_capture(cudaStream_t handle, unsigned int flags) {
  std::function<void(cudaStream_t, unsigned int)> observer;
  {
    std::lock_guard<std::mutex> lock(observer_mutex);
    observer = capture_observer();
  }
  if (observer) observer(handle, flags);
}

}  // namespace

void set_capture_observer(std::function<void(cudaStream_t, unsigned int)> observer) {
  std::lock_guard<std::mutex> lock(observer_mutex);
  capture_observer() = std::move(observer);
}

int current_device() { return selected_device; }
void select_device(int device) { selected_device = device; }

// Removes this thread's per-thread default stream when the thread ends,
// after running what it queued.
struct PerThreadStreamOwner {
  bool made = false;
  ~PerThreadStreamOwner() {
    if (made) Registry::get().drop_per_thread_stream(std::this_thread::get_id());
  }
};

namespace {
thread_local PerThreadStreamOwner per_thread_owner;
}  // namespace

Registry& Registry::get() {
  // Never destroyed: streams may still be used while other statics go away
  // at exit.
  static Registry* const registry = new Registry();
  return *registry;
}

Registry::Registry() : legacy_(std::make_shared<Stream>(0, cudaStreamDefault, true)) {}

std::shared_ptr<Stream> Registry::per_thread_stream_locked() {
  auto& slot = per_thread_[std::this_thread::get_id()];
  if (!slot) {
    slot = std::make_shared<Stream>(selected_device, cudaStreamDefault, false);
    per_thread_owner.made = true;
  }
  return slot;
}

void Registry::drop_per_thread_stream(std::thread::id thread) {
  std::shared_ptr<Stream> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = per_thread_.find(thread);
    if (it == per_thread_.end()) return;
    dropped = std::move(it->second);
    per_thread_.erase(it);
  }
}

std::shared_ptr<Stream> Registry::resolve_locked(cudaStream_t handle) {
  if (handle == nullptr || handle == cudaStreamLegacy) return legacy_;
  if (handle == cudaStreamPerThread) return per_thread_stream_locked();
  auto it = streams_.find(reinterpret_cast<Stream*>(handle));
  return it != streams_.end() ? it->second : nullptr;
}

std::shared_ptr<Stream> Registry::resolve(cudaStream_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  return resolve_locked(handle);
}

cudaStream_t Registry::create_stream(int device, unsigned int flags) {
  auto stream = std::make_shared<Stream>(device, flags, false);
  Stream* raw = stream.get();
  std::lock_guard<std::mutex> lock(mutex_);
  streams_.emplace(raw, std::move(stream));
  return reinterpret_cast<cudaStream_t>(raw);
}

cudaError_t Registry::destroy_stream(cudaStream_t handle) {
  std::shared_ptr<Stream> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = streams_.find(reinterpret_cast<Stream*>(handle));
    if (it == streams_.end()) return cudaErrorInvalidResourceHandle;
    if (it->second->capture) return cudaErrorStreamCaptureUnsupported;
    dropped = std::move(it->second);
    streams_.erase(it);
  }
  return cudaSuccess;  // its queued work runs, then its worker stops
}

cudaError_t Registry::enqueue(cudaStream_t handle, Operation op, std::shared_ptr<Stream>* where,
                              uint64_t* ticket) {
  if (sticky_error() != cudaSuccess) return sticky_error();
  std::lock_guard<std::mutex> lock(mutex_);
  const std::shared_ptr<Stream> stream = resolve_locked(handle);
  if (stream == nullptr) return cudaErrorInvalidResourceHandle;
  if (where != nullptr) *where = stream;
  if (stream->capture) {
    if (stream->capture->invalidated) return cudaErrorStreamCaptureInvalidated;
    stream->capture->graph->operations.push_back(std::move(op));
    if (ticket != nullptr) *ticket = 0;
    return cudaSuccess;
  }
  if (stream->legacy()) {
    // The legacy stream waits for every blocking stream's queued work: a
    // capturing one cannot be waited for.
    bool implicit = false;
    auto order_after = [&](const std::shared_ptr<Stream>& s) {
      if (!s->blocking()) return;
      if (s->capture) {
        s->capture->invalidated = true;
        implicit = true;
        return;
      }
      op.after.push_back(Dependency{s, s->last_ticket()});
    };
    for (auto& entry : streams_) order_after(entry.second);
    for (auto& entry : per_thread_) order_after(entry.second);
    if (implicit) return cudaErrorStreamCaptureImplicit;
  } else if (stream->blocking()) {
    op.after.push_back(Dependency{legacy_, legacy_->last_ticket()});
  }
  const uint64_t t = stream->push(std::move(op));
  if (ticket != nullptr) *ticket = t;
  return cudaSuccess;
}

bool Registry::invalidate_restricting_captures_locked() {
  bool found = false;
  const std::thread::id self = std::this_thread::get_id();
  auto check = [&](Stream& s) {
    if (!s.capture) return;
    const Capture& c = *s.capture;
    if (c.mode == cudaStreamCaptureModeGlobal ||
        (c.mode == cudaStreamCaptureModeThreadLocal && c.thread == self)) {
      s.capture->invalidated = true;
      found = true;
    }
  };
  for (auto& entry : streams_) check(*entry.second);
  for (auto& entry : per_thread_) check(*entry.second);
  return found;
}

cudaError_t Registry::unsafe_call() {
  std::lock_guard<std::mutex> lock(mutex_);
  return invalidate_restricting_captures_locked() ? cudaErrorStreamCaptureUnsupported
                                                  : cudaSuccess;
}

cudaError_t Registry::begin_capture(cudaStream_t handle, cudaStreamCaptureMode mode) {
  unsigned int flags = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::shared_ptr<Stream> stream = resolve_locked(handle);
    if (stream == nullptr) return cudaErrorInvalidResourceHandle;
    if (stream->legacy()) return cudaErrorStreamCaptureUnsupported;
    if (stream->capture) return cudaErrorIllegalState;
    stream->capture = std::make_unique<Capture>();
    stream->capture->graph = std::make_shared<Graph>();
    stream->capture->mode = mode;
    stream->capture->thread = std::this_thread::get_id();
    flags = stream->flags();
  }
  observe_capture(handle, flags);
  return cudaSuccess;
}

cudaError_t Registry::end_capture(cudaStream_t handle, std::shared_ptr<Graph>* graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::shared_ptr<Stream> stream = resolve_locked(handle);
  if (stream == nullptr) return cudaErrorInvalidResourceHandle;
  if (!stream->capture) return cudaErrorIllegalState;
  if (stream->capture->mode != cudaStreamCaptureModeRelaxed &&
      stream->capture->thread != std::this_thread::get_id()) {
    return cudaErrorStreamCaptureWrongThread;
  }
  std::unique_ptr<Capture> ended = std::move(stream->capture);
  if (ended->invalidated) return cudaErrorStreamCaptureInvalidated;
  *graph = std::move(ended->graph);
  return cudaSuccess;
}

cudaError_t Registry::capture_status(cudaStream_t handle, cudaStreamCaptureStatus* status) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::shared_ptr<Stream> stream = resolve_locked(handle);
  if (stream == nullptr) return cudaErrorInvalidResourceHandle;
  *status = !stream->capture                ? cudaStreamCaptureStatusNone
            : stream->capture->invalidated ? cudaStreamCaptureStatusInvalidated
                                            : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaEvent_t Registry::create_event(unsigned int flags) {
  auto event = std::make_unique<CUevent_st>();
  event->flags = flags;
  CUevent_st* raw = event.get();
  std::lock_guard<std::mutex> lock(mutex_);
  events_.emplace(raw, std::move(event));
  return raw;
}

bool Registry::known_event(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_.count(event) != 0;
}

bool Registry::event_state(cudaEvent_t event, Dependency* on, bool* captured) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (events_.count(event) == 0) return false;
  *on = Dependency{event->stream, event->ticket};
  *captured = event->captured;
  return true;
}

void Registry::destroy_event(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.erase(event);
}

cudaError_t Registry::record_event(cudaEvent_t event, cudaStream_t handle) {
  if (!known_event(event)) return cudaErrorInvalidResourceHandle;
  std::shared_ptr<Stream> stream;
  uint64_t ticket = 0;
  const cudaError_t e = enqueue(handle, Operation{"event record", {}, {}}, &stream, &ticket);
  if (e != cudaSuccess) return e;
  std::lock_guard<std::mutex> lock(mutex_);
  event->captured = stream->capture != nullptr;
  event->stream = stream;
  event->ticket = ticket;
  return cudaSuccess;
}

cudaError_t Registry::wait_event(cudaStream_t handle, cudaEvent_t event) {
  std::shared_ptr<Stream> target;
  Dependency on;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.count(event) == 0) return cudaErrorInvalidResourceHandle;
    target = resolve_locked(handle);
    if (target == nullptr) return cudaErrorInvalidResourceHandle;
    if (event->stream == nullptr) return cudaSuccess;  // never recorded: nothing to wait for
    // Recorded on the target itself: already in order (and an operation
    // must not hold its own stream, which could then be destroyed by it).
    if (event->stream == target && !target->capture) return cudaSuccess;
    const bool capturing = target->capture != nullptr;
    if (event->captured != capturing || (capturing && event->stream != target)) {
      // Joining another stream's capture, or a capture waiting for work
      // outside it: the simulator captures single streams only, and CUDA
      // refuses the second.
      if (capturing) target->capture->invalidated = true;
      return cudaErrorStreamCaptureIsolation;
    }
    if (capturing) return cudaSuccess;  // the same stream: already in order
    on = Dependency{event->stream, event->ticket};
  }
  Operation op{"stream wait event", {}, {on}};
  return enqueue(handle, std::move(op));
}

cudaError_t Registry::synchronize(cudaStream_t handle) {
  std::shared_ptr<Stream> stream;
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stream = resolve_locked(handle);
    if (stream == nullptr) return cudaErrorInvalidResourceHandle;
    if (stream->capture) {
      stream->capture->invalidated = true;
      return cudaErrorStreamCaptureUnsupported;
    }
    if (invalidate_restricting_captures_locked()) return cudaErrorStreamCaptureUnsupported;
    ticket = stream->last_ticket();
  }
  stream->wait(ticket);
  return sticky_error();
}

void Registry::synchronize_device() {
  std::vector<Dependency> all;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    all.push_back(Dependency{legacy_, legacy_->last_ticket()});
    for (auto& entry : streams_) all.push_back(Dependency{entry.second, entry.second->last_ticket()});
    for (auto& entry : per_thread_) {
      all.push_back(Dependency{entry.second, entry.second->last_ticket()});
    }
  }
  for (const Dependency& d : all) d.stream->wait(d.ticket);
}

}  // namespace cudasim
