// The simulated CUDA runtime's host API (sim/README section of the project
// README): the subset of cuda_runtime_api.h that libvae calls, with CUDA's
// own names, types, error codes and documented semantics, implemented on the
// CPU by libvae_cudasim.so. Nothing here needs a GPU or the NVIDIA driver.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vector_types.h"

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNoDevice = 100,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorMisalignedAddress = 716,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureMerge = 902,
  cudaErrorStreamCaptureUnmatched = 903,
  cudaErrorStreamCaptureUnjoined = 904,
  cudaErrorStreamCaptureIsolation = 905,
  cudaErrorStreamCaptureImplicit = 906,
  cudaErrorCapturedEvent = 907,
  cudaErrorStreamCaptureWrongThread = 908,
  cudaErrorIllegalState = 401,
  cudaErrorUnknown = 999,
};

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaMemoryType {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};

struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMultiProcessorCount = 16,
};

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};

enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;
typedef CUgraph_st* cudaGraph_t;
typedef CUgraphExec_st* cudaGraphExec_t;

// The two special handles, as CUDA defines them.
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00
#define cudaMemAttachGlobal 0x01

// The simulator's exported functions: CUDA's, with C linkage, and its own
// (namespace cudasim), with C++ linkage.
#define CUDASIM_EXPORT __attribute__((visibility("default")))
#define CUDASIM_API extern "C" CUDASIM_EXPORT

CUDASIM_API cudaError_t cudaGetLastError(void);
CUDASIM_API cudaError_t cudaPeekAtLastError(void);
CUDASIM_API const char* cudaGetErrorString(cudaError_t error);
CUDASIM_API const char* cudaGetErrorName(cudaError_t error);

CUDASIM_API cudaError_t cudaGetDeviceCount(int* count);
CUDASIM_API cudaError_t cudaSetDevice(int device);
CUDASIM_API cudaError_t cudaGetDevice(int* device);
CUDASIM_API cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
CUDASIM_API cudaError_t cudaDeviceSynchronize(void);
CUDASIM_API cudaError_t cudaDriverGetVersion(int* version);
CUDASIM_API cudaError_t cudaRuntimeGetVersion(int* version);

CUDASIM_API cudaError_t cudaMalloc(void** p, size_t bytes);
CUDASIM_API cudaError_t cudaMallocHost(void** p, size_t bytes);
CUDASIM_API cudaError_t cudaMallocManaged(void** p, size_t bytes, unsigned int flags = cudaMemAttachGlobal);
CUDASIM_API cudaError_t cudaFree(void* p);
CUDASIM_API cudaError_t cudaFreeHost(void* p);
// The simulated device's memory: CUDASIM_MEMORY_MB, else half the host's.
CUDASIM_API cudaError_t cudaMemGetInfo(size_t* free, size_t* total);
CUDASIM_API cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p);

CUDASIM_API cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
CUDASIM_API cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes,
                                        cudaMemcpyKind kind, cudaStream_t stream = nullptr);
CUDASIM_API cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch,
                                          size_t width, size_t height, cudaMemcpyKind kind,
                                          cudaStream_t stream = nullptr);
CUDASIM_API cudaError_t cudaMemset(void* p, int value, size_t bytes);
CUDASIM_API cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes,
                                        cudaStream_t stream = nullptr);

CUDASIM_API cudaError_t cudaStreamCreate(cudaStream_t* stream);
CUDASIM_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
CUDASIM_API cudaError_t cudaStreamDestroy(cudaStream_t stream);
CUDASIM_API cudaError_t cudaStreamSynchronize(cudaStream_t stream);
CUDASIM_API cudaError_t cudaStreamQuery(cudaStream_t stream);
CUDASIM_API cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
                                            unsigned int flags = 0);
CUDASIM_API cudaError_t cudaStreamGetDevice(cudaStream_t stream, int* device);
CUDASIM_API cudaError_t cudaStreamGetFlags(cudaStream_t stream, unsigned int* flags);

CUDASIM_API cudaError_t cudaEventCreate(cudaEvent_t* event);
CUDASIM_API cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
CUDASIM_API cudaError_t cudaEventDestroy(cudaEvent_t event);
CUDASIM_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
CUDASIM_API cudaError_t cudaEventSynchronize(cudaEvent_t event);
CUDASIM_API cudaError_t cudaEventQuery(cudaEvent_t event);

CUDASIM_API cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
CUDASIM_API cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
CUDASIM_API cudaError_t cudaStreamIsCapturing(cudaStream_t stream,
                                              cudaStreamCaptureStatus* status);
CUDASIM_API cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                             unsigned long long flags = 0);
CUDASIM_API cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
CUDASIM_API cudaError_t cudaGraphDestroy(cudaGraph_t graph);
CUDASIM_API cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
