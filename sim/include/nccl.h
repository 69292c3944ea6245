// The simulated NCCL (sim/src/nccl.cpp): communicators whose ranks are
// threads of one process, each on its own stream; an all-reduce waits on
// its stream for every rank's call of the same collective, then sums in
// rank order. The subset libvae's vae_nccl adapter calls.
#pragma once

#include <cstddef>

#include "cuda_runtime_api.h"

#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

enum ncclResult_t {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
};

enum ncclDataType_t { ncclFloat = 7 };
enum ncclRedOp_t { ncclSum = 0 };

struct ncclComm;
typedef ncclComm* ncclComm_t;

CUDASIM_API ncclResult_t ncclGetUniqueId(ncclUniqueId* id);
// Blocks until all `ranks` ranks of id have called it (as NCCL does).
CUDASIM_API ncclResult_t ncclCommInitRank(ncclComm_t* comm, int ranks, ncclUniqueId id, int rank);
CUDASIM_API ncclResult_t ncclCommDestroy(ncclComm_t comm);
// Leaves the communicator at once: the other ranks' collectives then fail.
CUDASIM_API ncclResult_t ncclCommAbort(ncclComm_t comm);
CUDASIM_API ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* error);
CUDASIM_API ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count,
                                       ncclDataType_t type, ncclRedOp_t op, ncclComm_t comm,
                                       cudaStream_t stream);
CUDASIM_API const char* ncclGetErrorString(ncclResult_t result);
CUDASIM_API const char* ncclGetLastError(ncclComm_t comm);
