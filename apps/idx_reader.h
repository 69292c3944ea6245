// Reader for IDX files (the MNIST format) of unsigned bytes, raw or gzip.
//
// Layout: two zero bytes, a type code (0x08: unsigned byte), the number of
// dimensions d >= 1, d big-endian uint32 sizes, then the values. The first
// dimension counts rows; a row holds the product of the others (1 when d = 1),
// so 0x00000803 images become rows of 28 * 28 bytes and 0x00000801 labels
// rows of one byte.
#ifndef VAE_APPS_IDX_READER_H
#define VAE_APPS_IDX_READER_H

#include <cstdint>
#include <string>
#include <vector>

#include "data_matrix.h"

namespace vae_app {

// Parses the (decompressed) bytes of an IDX file; `path` names it in errors.
// Throws DataFileError.
DataMatrix parse_idx(const std::string& path, std::vector<std::uint8_t> contents);

// Reads and parses the IDX file at `path`. Throws DataFileError.
DataMatrix read_idx_file(const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_IDX_READER_H
