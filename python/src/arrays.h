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

// A new NumPy float32 array that owns its memory.
inline NumpyFloats new_array(std::initializer_list<size_t> shape) {
  size_t size = 1;
  for (size_t extent : shape) {
    if (extent != 0 && size > std::numeric_limits<size_t>::max() / sizeof(float) / extent) {
      throw StatusError(VAE_ERROR_OUT_OF_MEMORY, "the result would not fit in memory");
    }
    size *= extent;
  }
  std::unique_ptr<float[]> data;
  try {
    data = std::make_unique<float[]>(size);
  } catch (const std::bad_alloc&) {
    throw StatusError(VAE_ERROR_OUT_OF_MEMORY,
                      "out of host memory for a result of " + std::to_string(size) + " floats");
  }
  nb::capsule owner(data.get(),
                    [](void* p) noexcept { std::unique_ptr<float[]>(static_cast<float*>(p)); });
  return NumpyFloats(data.release(), shape, owner);
}

}  // namespace libvae_ext
