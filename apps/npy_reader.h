// Reader for NumPy .npy files, format versions 1.0, 2.0 and 3.0.
//
// Accepted: dtype '|u1' or '<u1' (bytes) and '<f4' (float32), C order, a
// shape of one or more dimensions: rows = shape[0], a row holds the product
// of the others (1 for a 1-D array). The header dict is parsed strictly: the
// keys descr, fortran_order and shape, each once, and nothing else. Float
// values must be finite.
#ifndef VAE_APPS_NPY_READER_H
#define VAE_APPS_NPY_READER_H

#include <cstdint>
#include <string>
#include <vector>

#include "data_matrix.h"

namespace vae_app {

// True when `contents` starts with the .npy magic string "\x93NUMPY".
bool has_npy_magic(const std::vector<std::uint8_t>& contents);

// Parses the bytes of a .npy file; `path` names it in errors.
// Throws DataFileError.
DataMatrix parse_npy(const std::string& path, std::vector<std::uint8_t> contents);

// Reads and parses the .npy file at `path` (gzip is inflated).
// Throws DataFileError.
DataMatrix read_npy_file(const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_NPY_READER_H
