// Reads a whole data file into memory, inflating it when it is gzip data
// (detected by the magic bytes 1f 8b, not by the name).
#ifndef VAE_APPS_FILE_CONTENTS_H
#define VAE_APPS_FILE_CONTENTS_H

#include <cstdint>
#include <string>
#include <vector>

namespace vae_app {

// The most bytes a data file may hold, before and after decompression.
inline constexpr std::uint64_t kMaxDataFileBytes = std::uint64_t{16} << 30;

// The file's bytes (decompressed for gzip). Throws DataFileError for a file
// that cannot be read, is empty, exceeds max_bytes, or is corrupt, truncated
// or followed by trailing garbage as gzip.
std::vector<std::uint8_t> read_file_contents(const std::string& path,
                                             std::uint64_t max_bytes = kMaxDataFileBytes);

}  // namespace vae_app

#endif  // VAE_APPS_FILE_CONTENTS_H
