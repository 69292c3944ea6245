// Runs a kernel on the simulated device: every block in turn, every thread
// of a block as a fiber, switched at the barriers and shuffles that make
// threads wait for each other. What a real device would hang on or leave
// undefined (a barrier or a shuffle that some thread of the block or lane
// of the mask never reaches) is a fault naming the kernel and the threads.
#pragma once

#include <functional>

#include "cuda_runtime_api.h"

namespace cudasim {

// Runs body as each thread of the grid; returns false after a fault.
bool run_kernel(const char* name, dim3 grid, dim3 block, const std::function<void()>& body);

}  // namespace cudasim
