// The extension's arrays: what it takes in (float32 and uint8 in C order, on
// the host or a GPU) and the NumPy arrays it gives out, which own their
// memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <sstream>
#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "trainer_handle.h"

namespace libvae_ext {

namespace nb = nanobind;

using Floats = nb::ndarray<const float, nb::c_contig>;
using Bytes = nb::ndarray<const uint8_t, nb::c_contig>;
using NumpyFloats = nb::ndarray<nb::numpy, float>;

template <class Array>
std::string shape_of(const Array& a) {
  std::ostringstream s;
  s << '(';
  for (size_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

// The rows of a, which must be an (n, width) array with n >= 1.
template <class Array>
int64_t rows_of(const Array& a, const std::string& name, int64_t width) {
  if (a.ndim() != 2 || static_cast<int64_t>(a.shape(1)) != width || a.shape(0) == 0) {
    invalid_argument(name + ": expected an array of shape (n, " + std::to_string(width) +
                     ") with n >= 1, got shape " + shape_of(a));
  }
  return static_cast<int64_t>(a.shape(0));
}

// The name of a DLPack device type (dlpack.h's DLDeviceType), for messages.
inline std::string device_type_name(int32_t type) {
  switch (type) {
    case nb::device::cpu::value: return "CPU";
    case nb::device::cuda::value: return "CUDA";
    case nb::device::cuda_host::value: return "CUDA host (pinned)";
    case nb::device::opencl::value: return "OpenCL";
    case nb::device::vulkan::value: return "Vulkan";
    case nb::device::metal::value: return "Metal";
    case nb::device::rocm::value: return "ROCm";
    case nb::device::rocm_host::value: return "ROCm host";
    case nb::device::cuda_managed::value: return "CUDA managed";
    case nb::device::oneapi::value: return "oneAPI";
    default: return "DLPack device type " + std::to_string(type);
  }
}

// The memory a trainer's backend reads: host memory (DLPack's CPU and CUDA
// host types) on either backend, and for the CUDA backend the memory of its
// own GPU (CUDA and CUDA managed with the trainer's device ordinal). Any
// other array is refused before the library reads it as host memory.
struct Backend {
  bool cuda = false;
  int32_t device = 0;

  template <class Array>
  void check(const Array& a, const std::string& name) const {
    const int32_t type = a.device_type();
    if (type == nb::device::cpu::value || type == nb::device::cuda_host::value) return;
    const bool gpu = type == nb::device::cuda::value || type == nb::device::cuda_managed::value;
    if (cuda && gpu && a.device_id() == device) return;
    std::string where = device_type_name(type);
    if (gpu) where += " device " + std::to_string(a.device_id());
    invalid_argument(name + ": an array in " + where + " memory given to a model on the " +
                     (cuda ? "CUDA backend (device " + std::to_string(device) + ")"
                           : std::string("CPU backend")) +
                     ", which takes " +
                     (cuda ? "host memory or that device's" : std::string("host memory only")));
  }
};

// A new NumPy array (float32 unless T says otherwise) that owns its memory.
template <class T = float>
inline nb::ndarray<nb::numpy, T> new_array(std::initializer_list<size_t> shape) {
  size_t size = 1;
  for (size_t extent : shape) {
    if (extent != 0 && size > std::numeric_limits<size_t>::max() / sizeof(T) / extent) {
      throw StatusError(VAE_ERROR_OUT_OF_MEMORY, "the result would not fit in memory");
    }
    size *= extent;
  }
  std::unique_ptr<T[]> data;
  try {
    data = std::make_unique<T[]>(size);
  } catch (const std::bad_alloc&) {
    throw StatusError(VAE_ERROR_OUT_OF_MEMORY, "out of host memory for a result of " +
                                                   std::to_string(size) + " values");
  }
  nb::capsule owner(data.get(), [](void* p) noexcept { std::unique_ptr<T[]>(static_cast<T*>(p)); });
  return nb::ndarray<nb::numpy, T>(data.release(), shape, owner);
}

}  // namespace libvae_ext
