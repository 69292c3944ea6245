// The simulated NCCL: a communicator's ranks are threads of this process.
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "memory.h"
#include "nccl.h"
#include "registry.h"
#include "state.h"

namespace {

// What the ranks of one unique id share.
struct Clique {
  int ranks = 0;
  std::mutex mutex;
  std::condition_variable changed;
  int joined = 0;
  bool aborted = false;
  // The all-reduce in progress: its sequence number, the ranks' buffers
  // and how many have arrived and left.
  uint64_t collective = 0;
  std::vector<std::pair<const float*, float*>> buffers;
  size_t count = 0;
  int arrived = 0;
  int left = 0;
};

class Cliques {
 public:
  std::shared_ptr<Clique> join(const std::string& id, int ranks) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = map_[id];
    if (!slot) {
      slot = std::make_shared<Clique>();
      slot->ranks = ranks;
      slot->buffers.resize(static_cast<size_t>(ranks));
    }
    return slot->ranks == ranks ? slot : nullptr;
  }
  void forget(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    map_.erase(id);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Clique>> map_;
};

Cliques& cliques() {
  static Cliques* const c = new Cliques();
  return *c;
}

std::atomic<uint64_t> next_id{1};

}  // namespace

struct ncclComm {
  std::shared_ptr<Clique> clique;
  std::string id;
  int rank = 0;
  uint64_t collectives = 0;  // calls queued so far
  std::atomic<int> async_error{ncclSuccess};
  std::string last_error;
};

namespace {

// One rank's part of collective `sequence` (run on its stream): waits for
// every rank, the last to arrive sums the buffers in rank order into every
// rank's output, and all wait until the sum is written.
void all_reduce_part(ncclComm* comm, uint64_t sequence, const float* send, float* recv,
                     size_t count) {
  Clique& c = *comm->clique;
  std::unique_lock<std::mutex> lock(c.mutex);
  c.changed.wait(lock, [&] { return c.aborted || (c.collective == sequence && c.left == 0); });
  if (c.aborted) {
    comm->async_error = ncclRemoteError;
    return;
  }
  c.buffers[static_cast<size_t>(comm->rank)] = {send, recv};
  c.count = count;
  if (++c.arrived == c.ranks) {
    std::vector<float> sum(count, 0.0f);
    for (const auto& b : c.buffers) {
      for (size_t e = 0; e < count; ++e) sum[e] += b.first[e];
    }
    for (const auto& b : c.buffers) std::memcpy(b.second, sum.data(), count * sizeof(float));
    c.left = c.ranks;
    c.changed.notify_all();
  } else {
    c.changed.wait(lock, [&] { return c.aborted || c.left > 0; });
    if (c.aborted) {
      comm->async_error = ncclRemoteError;
      return;
    }
  }
  if (--c.left == 0) {
    c.arrived = 0;
    ++c.collective;
    c.changed.notify_all();
  }
}

}  // namespace

extern "C" {

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  if (id == nullptr) return ncclInvalidArgument;
  std::memset(id, 0, sizeof *id);
  const std::string text = "cudasim-nccl-" + std::to_string(next_id++);
  std::memcpy(id->internal, text.c_str(), text.size());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int ranks, ncclUniqueId id, int rank) {
  if (comm == nullptr || ranks < 1 || rank < 0 || rank >= ranks) return ncclInvalidArgument;
  *comm = nullptr;
  const std::string key(id.internal, strnlen(id.internal, sizeof id.internal));
  if (key.rfind("cudasim-nccl-", 0) != 0) return ncclInvalidArgument;
  std::shared_ptr<Clique> clique = cliques().join(key, ranks);
  if (clique == nullptr) return ncclInvalidUsage;
  {
    std::unique_lock<std::mutex> lock(clique->mutex);
    ++clique->joined;
    clique->changed.notify_all();
    clique->changed.wait(lock, [&] { return clique->aborted || clique->joined >= ranks; });
    if (clique->aborted) return ncclRemoteError;
  }
  auto made = std::make_unique<ncclComm>();
  made->clique = std::move(clique);
  made->id = key;
  made->rank = rank;
  *comm = made.release();  // until ncclCommDestroy or ncclCommAbort
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (comm == nullptr) return ncclInvalidArgument;
  std::unique_ptr<ncclComm> owned(comm);
  cudasim::Registry::get().synchronize_device();
  cliques().forget(comm->id);
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (comm == nullptr) return ncclInvalidArgument;
  std::unique_ptr<ncclComm> owned(comm);
  {
    std::lock_guard<std::mutex> lock(comm->clique->mutex);
    comm->clique->aborted = true;
  }
  comm->clique->changed.notify_all();
  cudasim::Registry::get().synchronize_device();
  cliques().forget(comm->id);
  return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* error) {
  if (comm == nullptr || error == nullptr) return ncclInvalidArgument;
  *error = static_cast<ncclResult_t>(comm->async_error.load());
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  if (comm == nullptr || type != ncclFloat || op != ncclSum) return ncclInvalidArgument;
  if (count > 0 && (cudasim::check_device_range(send, count * sizeof(float)) != cudaSuccess ||
                    cudasim::check_device_range(recv, count * sizeof(float)) != cudaSuccess)) {
    comm->last_error = "ncclAllReduce: a buffer is not device memory of the simulated device";
    return ncclInvalidArgument;
  }
  const uint64_t sequence = comm->collectives++;
  const auto* in = static_cast<const float*>(send);
  auto* out = static_cast<float*>(recv);
  cudasim::Operation part{"ncclAllReduce",
                          [comm, sequence, in, out, count] {
                            all_reduce_part(comm, sequence, in, out, count);
                          },
                          {}};
  return cudasim::Registry::get().enqueue(stream, std::move(part)) == cudaSuccess
             ? ncclSuccess
             : ncclUnhandledCudaError;
}

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
  }
  return "unknown result code";
}

const char* ncclGetLastError(ncclComm_t comm) {
  return comm != nullptr ? comm->last_error.c_str() : "";
}

}  // extern "C"
