// The JSON header of a safetensors file: written by hand from the tensors'
// names, shapes and the metadata, and read by a streaming (SAX) parser that
// checks each value as it arrives against the one shape a header may have.
// No JSON tree is built either way: nlohmann's tree allocates in its noexcept
// destructor, so running out of memory there would end the process.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "safetensors.h"

namespace vae {

// A tensor's entry in a header, checked: an F32 tensor whose shape fills
// [begin, end) of the data section exactly.
struct HeaderEntry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<HeaderEntry> entries;  // in the order of their bytes
};

// Throws Error(VAE_ERROR_FORMAT) naming the file and what is wrong with it.
[[noreturn]] void fail_format(const std::string& path, const std::string& what);

// The header for `file`: the metadata first, then the tensors in name order,
// back to back from offset 0; padded with spaces so that the data section,
// after the 8-byte length and the header, begins at a multiple of 8 bytes.
// Throws Error(VAE_ERROR_INVALID_ARGUMENT) for a shape that does not match
// its values, a tensor named __metadata__, or text that is not UTF-8.
std::string build_header(const SafetensorsFile& file);

// Parses the header text [first, last) of `path`, whose data section is
// data_size bytes, and checks everything: valid JSON of the safetensors
// shape, only F32 tensors, no name twice, shapes that fill their byte ranges,
// and ranges that tile the data section exactly.
Header parse_header(const std::string& path, const unsigned char* first,
                    const unsigned char* last, uint64_t data_size);

}  // namespace vae
