// File paths handed to the C API, which takes them as C strings.
#pragma once

#include <string>

#include "trainer_handle.h"

namespace libvae_ext {

// path as a C string, refused (InvalidArgumentError) when it holds a NUL
// byte: the C API would read it only up to that byte, and so save or load
// another file than the one named.
inline const char* c_path(const std::string& path, const char* name = "path") {
  const size_t nul = path.find('\0');
  if (nul != std::string::npos) {
    invalid_argument(std::string(name) + ": contains a NUL byte (at offset " +
                     std::to_string(nul) + "), which no file name may hold");
  }
  return path.c_str();
}

}  // namespace libvae_ext
