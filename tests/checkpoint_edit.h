// Writing a checkpoint the tests edited (metadata removed or changed, as an
// older or a damaged file would have it) with its data checksum made right
// again, so the loader judges the edit and not the checksum.
#pragma once

#include <cstdio>
#include <string>

#include "safetensors.h"

namespace vae::testing {

constexpr const char* kChecksumKey = "libvae.data_crc32";

inline void write_edited_checkpoint(const std::string& path, SafetensorsFile& file) {
  if (file.metadata.count(kChecksumKey) != 0) {
    char text[9];
    std::snprintf(text, sizeof text, "%08x", data_section_crc32(file));
    file.metadata[kChecksumKey] = text;
  }
  write_safetensors(path, file);
}

}  // namespace vae::testing
