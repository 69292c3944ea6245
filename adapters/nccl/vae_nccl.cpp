// vae_nccl: libvae's allreduce hook over NCCL (include/vae/vae_nccl.h).
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "adapter_error.h"
#include "rank_options.h"
#include "vae/vae_nccl.h"

struct vae_nccl {
  ncclComm_t comm = nullptr;
  int rank = 0;
  int size = 1;
  int device = 0;
};

namespace {

static_assert(sizeof(ncclUniqueId) == VAE_NCCL_ID_BYTES,
              "VAE_NCCL_ID_BYTES is ncclUniqueId's size");

using vae_adapters::kMaxRanks;
constexpr char kAdapterName[] = "vae_nccl";
using Error = vae_adapters::AdapterError<kAdapterName>;
constexpr auto failed = &Error::failed;
constexpr auto succeeded = &Error::succeeded;

// NCCL's text for a result, with the communicator's last error when there is one.
std::string nccl_error(ncclResult_t result, ncclComm_t comm) {
  std::string text = ncclGetErrorString(result);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') text += std::string(" (") + last + ")";
  return text;
}

// The calling thread's current CUDA device, set back when this goes.
class DeviceScope {
 public:
  DeviceScope() { ok_ = cudaGetDevice(&previous_) == cudaSuccess; }
  ~DeviceScope() {
    if (ok_) static_cast<void>(cudaSetDevice(previous_));
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool ok_ = false;
};

// The checks a rank can make alone, before NCCL's init (which waits for
// every rank).
vae_status check_create(const unsigned char id[VAE_NCCL_ID_BYTES], int world_size, int rank,
                        int device, vae_nccl** out) {
  if (out == nullptr) return failed(VAE_ERROR_INVALID_ARGUMENT, "out: NULL");
  if (id == nullptr) return failed(VAE_ERROR_INVALID_ARGUMENT, "id: NULL");
  if (world_size < 1 || world_size > kMaxRanks) {
    return failed(VAE_ERROR_INVALID_ARGUMENT, "world_size: must be in [1, " +
                                                  std::to_string(kMaxRanks) + "], got " +
                                                  std::to_string(world_size));
  }
  if (rank < 0 || rank >= world_size) {
    return failed(VAE_ERROR_INVALID_ARGUMENT, "rank: must be in [0, " +
                                                  std::to_string(world_size - 1) + "], got " +
                                                  std::to_string(rank));
  }
  int devices = 0;
  const cudaError_t counted = cudaGetDeviceCount(&devices);
  if (counted != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return failed(VAE_ERROR_DEVICE,
                  std::string("no CUDA device is available: ") + cudaGetErrorString(counted));
  }
  if (device < 0 || device >= devices) {
    return failed(VAE_ERROR_INVALID_ARGUMENT, "device: must be in [0, " +
                                                  std::to_string(devices - 1) + "], got " +
                                                  std::to_string(device));
  }
  return succeeded();
}

// This rank's communicator: NCCL's init, which returns once every rank has
// called it.
vae_status join(const unsigned char id[VAE_NCCL_ID_BYTES], int world_size, int rank, int device,
                vae_nccl** out) {
  auto n = std::unique_ptr<vae_nccl>(new (std::nothrow) vae_nccl);
  if (!n) return failed(VAE_ERROR_OUT_OF_MEMORY, "out of host memory");
  n->rank = rank;
  n->size = world_size;
  n->device = device;
  const DeviceScope scope;
  const cudaError_t selected = cudaSetDevice(device);
  if (selected != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    return failed(VAE_ERROR_DEVICE, std::string("cudaSetDevice: ") + cudaGetErrorString(selected));
  }
  ncclUniqueId unique;
  std::memcpy(&unique, id, sizeof unique);
  const ncclResult_t result = ncclCommInitRank(&n->comm, world_size, unique, rank);
  if (result != ncclSuccess) {
    return failed(VAE_ERROR_DEVICE, "ncclCommInitRank: " + nccl_error(result, nullptr));
  }
  *out = n.release();
  return succeeded();
}

vae_status create(const unsigned char id[VAE_NCCL_ID_BYTES], int world_size, int rank,
                  int device, vae_nccl** out) {
  const vae_status checked = check_create(id, world_size, rank, device, out);
  if (checked != VAE_OK) return checked;
  return join(id, world_size, rank, device, out);
}

// Whether `ok` holds on every rank of comm (false where the vote itself
// fails).
bool every_rank(MPI_Comm comm, bool ok) {
  int all = ok ? 1 : 0;
  return MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, comm) == MPI_SUCCESS && all != 0;
}

vae_status create_mpi(MPI_Comm comm, int device, vae_nccl** out) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized == 0 || finalized != 0) {
    return failed(VAE_ERROR_INVALID_ARGUMENT, "MPI is not initialized (call MPI_Init first)");
  }
  if (comm == MPI_COMM_NULL) return failed(VAE_ERROR_INVALID_ARGUMENT, "comm: MPI_COMM_NULL");
  int rank = 0, size = 1;
  if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS) {
    return failed(VAE_ERROR_IO, "MPI_Comm_rank or MPI_Comm_size failed");
  }
  // Rank 0 draws the id; a failure there is told to the others by a zero
  // first byte after the id, so no rank waits for a communicator that
  // rank 0 will not join.
  unsigned char message[VAE_NCCL_ID_BYTES + 1] = {};
  if (rank == 0) {
    message[VAE_NCCL_ID_BYTES] = vae_nccl_unique_id(message) == VAE_OK ? 1 : 0;
  }
  const int code = MPI_Bcast(message, VAE_NCCL_ID_BYTES + 1, MPI_BYTE, 0, comm);
  if (code != MPI_SUCCESS) return failed(VAE_ERROR_IO, "MPI_Bcast of the NCCL unique id failed");
  if (message[VAE_NCCL_ID_BYTES] == 0) {
    return rank == 0 ? VAE_ERROR_DEVICE
                     : failed(VAE_ERROR_DEVICE, "rank 0 could not draw the NCCL unique id");
  }
  // Every rank checks its arguments and device, and the ranks agree before
  // any of them enters NCCL's init: one refused rank would otherwise leave
  // the others waiting there for it forever.
  const vae_status checked = check_create(message, size, rank, device, out);
  if (!every_rank(comm, checked == VAE_OK)) {
    return checked != VAE_OK ? checked
                             : failed(VAE_ERROR_DEVICE,
                                      "another rank refused its arguments or device (see its "
                                      "error); no rank joined the communicator");
  }
  // And agree after it: a rank whose init failed fails every rank's, whose
  // communicators are aborted.
  vae_nccl* joined = nullptr;
  const vae_status made = join(message, size, rank, device, &joined);
  if (!every_rank(comm, made == VAE_OK)) {
    if (joined != nullptr) {
      static_cast<void>(ncclCommAbort(joined->comm));
      joined->comm = nullptr;
      vae_nccl_destroy(joined);
    }
    return made != VAE_OK ? made
                          : failed(VAE_ERROR_DEVICE,
                                   "another rank's ncclCommInitRank failed (see its error); this "
                                   "rank's communicator was aborted");
  }
  *out = joined;
  return succeeded();
}

}  // namespace

extern "C" {

vae_status vae_nccl_unique_id(unsigned char id[VAE_NCCL_ID_BYTES]) {
  if (id == nullptr) return failed(VAE_ERROR_INVALID_ARGUMENT, "id: NULL");
  ncclUniqueId unique;
  const ncclResult_t result = ncclGetUniqueId(&unique);
  if (result != ncclSuccess) {
    return failed(VAE_ERROR_DEVICE, std::string("ncclGetUniqueId: ") + ncclGetErrorString(result));
  }
  std::memcpy(id, &unique, sizeof unique);
  return succeeded();
}

vae_status vae_nccl_create(const unsigned char id[VAE_NCCL_ID_BYTES], int world_size, int rank,
                           int device, vae_nccl** out) {
  try {
    return create(id, world_size, rank, device, out);
  } catch (const std::bad_alloc&) {
    return failed(VAE_ERROR_OUT_OF_MEMORY, "out of host memory");
  }
}

vae_status vae_nccl_create_mpi(MPI_Comm comm, int device, vae_nccl** out) {
  try {
    return create_mpi(comm, device, out);
  } catch (const std::bad_alloc&) {
    return failed(VAE_ERROR_OUT_OF_MEMORY, "out of host memory");
  }
}

void vae_nccl_destroy(vae_nccl* n) {
  const std::unique_ptr<vae_nccl> owned(n);
  if (n != nullptr && n->comm != nullptr) static_cast<void>(ncclCommDestroy(n->comm));
}

int vae_nccl_rank(const vae_nccl* n) { return n != nullptr ? n->rank : -1; }

int vae_nccl_size(const vae_nccl* n) { return n != nullptr ? n->size : -1; }

vae_status vae_nccl_attach(vae_nccl* n, vae_trainer* t) {
  if (n == nullptr) return failed(VAE_ERROR_INVALID_ARGUMENT, "n: NULL");
  int64_t backend = 0, device = 0;
  vae_status status = vae_get_int(t, VAE_OPT_BACKEND, &backend);
  if (status == VAE_OK) status = vae_get_int(t, VAE_OPT_DEVICE, &device);
  if (status != VAE_OK) return failed(status, vae_last_error());
  if (backend != VAE_BACKEND_CUDA) {
    return failed(VAE_ERROR_INVALID_ARGUMENT,
                  "t: the trainer runs on the CPU backend; NCCL sums GPU memory (use vae_mpi)");
  }
  if (device != n->device) {
    return failed(VAE_ERROR_INVALID_ARGUMENT,
                  "t: the trainer is on device " + std::to_string(device) +
                      ", the communicator on device " + std::to_string(n->device));
  }
  status = vae_adapters::set_rank_options(t, n->rank, n->size);
  if (status == VAE_OK) status = vae_set_allreduce(t, &vae_nccl_allreduce, n);
  if (status != VAE_OK) return failed(status, vae_last_error());
  return succeeded();
}

int vae_nccl_allreduce(void* user_data, float* buffer, int64_t count, int on_device,
                       void* stream, char* message, size_t message_size) {
  const auto* n = static_cast<const vae_nccl*>(user_data);
  const auto report = [&](vae_status status, const char* text, const char* detail) {
    if (message != nullptr && message_size > 0) {
      std::snprintf(message, message_size, "vae_nccl: %s%s", text, detail);
    }
    return status;
  };
  if (n == nullptr || buffer == nullptr || count < 0) {
    return report(VAE_ERROR_INVALID_ARGUMENT, "no communicator or no buffer", "");
  }
  if (on_device == 0) {
    return report(VAE_ERROR_UNSUPPORTED,
                  "NCCL sums GPU memory; a trainer on the CPU takes vae_mpi's hook", "");
  }
  ncclResult_t result =
      ncclAllReduce(buffer, buffer, static_cast<size_t>(count), ncclFloat, ncclSum, n->comm,
                    static_cast<cudaStream_t>(stream));
  if (result != ncclSuccess) {
    return report(VAE_ERROR_DEVICE, "ncclAllReduce: ", ncclGetErrorString(result));
  }
  ncclResult_t async = ncclSuccess;
  result = ncclCommGetAsyncError(n->comm, &async);
  if (result == ncclSuccess && async != ncclSuccess && async != ncclInProgress) {
    return report(VAE_ERROR_DEVICE, "the communicator failed: ", ncclGetErrorString(async));
  }
  return VAE_OK;
}

const char* vae_nccl_last_error(void) { return Error::last(); }

}  // extern "C"
