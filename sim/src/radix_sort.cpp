// The simulated cub::DeviceRadixSort::SortPairs: a stable sort of the pairs
// by the key bits [begin_bit, end_bit), queued on the stream, as CUB's.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "cub/device/device_radix_sort.cuh"
#include "memory.h"
#include "registry.h"
#include "state.h"

namespace cub {

cudaError_t DeviceRadixSort::SortPairs(void* temp, size_t& temp_bytes, const uint64_t* keys_in,
                                       uint64_t* keys_out, const int64_t* values_in,
                                       int64_t* values_out, int64_t count, int begin_bit,
                                       int end_bit, cudaStream_t stream) {
  // CUB's scratch holds a copy of keys and values and its histograms.
  const size_t needed = 2 * sizeof(uint64_t) * static_cast<size_t>(std::max<int64_t>(count, 0)) + 4096;
  if (temp == nullptr) {
    temp_bytes = needed;
    return cudaSuccess;
  }
  if (count < 0 || begin_bit < 0 || end_bit > 64 || begin_bit >= end_bit || temp_bytes < needed) {
    return cudasim::set_error(cudaErrorInvalidValue);
  }
  if (count == 0) return cudaSuccess;
  const auto n = static_cast<size_t>(count);
  if (cudasim::check_device_range(temp, needed) != cudaSuccess ||
      cudasim::check_device_range(keys_in, n * 8) != cudaSuccess ||
      cudasim::check_device_range(keys_out, n * 8) != cudaSuccess ||
      cudasim::check_device_range(values_in, n * 8) != cudaSuccess ||
      cudasim::check_device_range(values_out, n * 8) != cudaSuccess) {
    return cudasim::set_error(cudaErrorInvalidValue);
  }
  const uint64_t mask = end_bit - begin_bit == 64 ? ~uint64_t{0}
                                                  : ((uint64_t{1} << (end_bit - begin_bit)) - 1);
  cudasim::Operation op{
      "cub::DeviceRadixSort::SortPairs",
      [=] {
        std::vector<size_t> order(n);
        std::iota(order.begin(), order.end(), size_t{0});
        auto digit = [&](size_t i) { return keys_in[i] >> begin_bit & mask; };
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t x, size_t y) { return digit(x) < digit(y); });
        std::vector<uint64_t> keys(n);
        std::vector<int64_t> values(n);
        for (size_t i = 0; i < n; ++i) {
          keys[i] = keys_in[order[i]];
          values[i] = values_in[order[i]];
        }
        std::memcpy(keys_out, keys.data(), n * 8);
        std::memcpy(values_out, values.data(), n * 8);
      },
      {}};
  return cudasim::set_error(cudasim::Registry::get().enqueue(stream, std::move(op)));
}

}  // namespace cub
