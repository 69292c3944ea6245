// The simulated CUDA runtime for code compiled as CUDA: the host API, and
// the device side that kernels see (kernel qualifiers, threadIdx and the
// other built-in variables, barriers, shuffles, atomics). Kernel code
// compiled against this header is the same source nvcc compiles; it runs on
// the CPU with the GPU's thread semantics.
#pragma once

#include <algorithm>
#include <cmath>

#include "cuda_runtime_api.h"

#define __CUDASIM__ 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// One copy per block: the simulator runs one block at a time on a stream's
// worker thread, all of its threads as fibers of that thread.
#define __shared__ static thread_local

#include "cudasim/device.h"
#include "cudasim/launch.h"

using std::isfinite;
using std::max;
using std::min;
