// The CUDA backend's primitives of a conditional model (kernels/condition.h,
// kernels/conditions.cu): the joined inputs of the first layers, the
// gradient's latent columns, and a dataset's conditions.
#include <utility>

#include "conditions.cuh"
#include "cuda/cuda_check.h"
#include "cuda/cuda_ops.h"
#include "cuda/device_dataset.h"

namespace vae {

using cuda_detail::check_cuda;

void CudaOps::join_condition(const float* left, int64_t left_width, const float* cond,
                             int64_t cond_width, const ConditionRows& m, int64_t rows,
                             float* out) const {
  check_cuda(cuda::launch_join_condition(left, left_width, cond, cond_width, m, rows, out,
                                         stream()),
             "join_condition kernel");
}

void CudaOps::copy_columns(const float* src, int64_t src_width, int64_t rows, int64_t cols,
                           float* dst) const {
  if (rows <= 0 || cols <= 0) return;
  const size_t width = sizeof(float) * static_cast<size_t>(cols);
  check_cuda(cudaMemcpy2DAsync(dst, width, src, sizeof(float) * static_cast<size_t>(src_width),
                               width, static_cast<size_t>(rows), cudaMemcpyDeviceToDevice,
                               stream()),
             "cudaMemcpy2DAsync");
}

void CudaOps::gather_conditions(const Dataset& ds, int64_t first, int64_t n,
                                const StepState* epoch, float* cond) const {
  cuda::ConditionSource src;
  src.floats = ds.conditions;
  src.labels = ds.labels;
  src.order = epoch != nullptr ? ds.order : nullptr;
  src.width = ds.condition_dim;
  check_cuda(cuda::launch_gather_conditions(src, first, n, epoch, cond, stream()),
             "gather_conditions kernel");
}

// The new device copy is made and filled before the dataset points at it,
// so a failure leaves the dataset as it was; the caller may change or free
// its host array once this returns.
void CudaOps::set_dataset_conditions(Dataset& ds, const float* floats, const uint8_t* labels,
                                     int64_t width) const {
  begin_call();
  auto& device = static_cast<DeviceDataset&>(ds);
  const size_t rows = static_cast<size_t>(ds.rows);
  const size_t bytes = floats != nullptr ? sizeof(float) * rows * static_cast<size_t>(width)
                                         : sizeof(uint8_t) * rows;
  cuda_detail::DeviceMemory values = cuda_detail::device_allocate(bytes, "cudaMalloc");
  const void* host = floats != nullptr ? static_cast<const void*>(floats) : labels;
  check_cuda(cudaMemcpyAsync(values.get(), host, bytes, cudaMemcpyHostToDevice, stream()),
             "cudaMemcpyAsync");
  synchronize();
  device.condition_values = std::move(values);
  device.conditions =
      floats != nullptr ? static_cast<const float*>(device.condition_values.get()) : nullptr;
  device.labels =
      labels != nullptr ? static_cast<const uint8_t*>(device.condition_values.get()) : nullptr;
  device.condition_dim = width;
}

}  // namespace vae
