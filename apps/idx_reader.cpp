#include "idx_reader.h"

#include <cstdio>
#include <utility>

#include "data_file_error.h"
#include "file_contents.h"

namespace vae_app {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;

std::string hex(std::uint32_t value, int digits) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%0*x", digits, static_cast<unsigned>(value));
  return text;
}

// The IDX element types other than unsigned byte, by type code.
const char* other_idx_type_name(std::uint8_t code) {
  switch (code) {
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return nullptr;
  }
}

std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

}  // namespace

DataMatrix parse_idx(const std::string& path, std::vector<std::uint8_t> contents) {
  const std::size_t size = contents.size();
  if (size < 4) {
    throw DataFileError(path, "truncated IDX header: " + std::to_string(size) +
                                  " bytes, the magic number alone takes 4");
  }
  const std::uint32_t magic = big_endian_u32(contents.data());
  if (contents[0] != 0 || contents[1] != 0) {
    throw DataFileError(path, "bad magic number " + hex(magic, 8) +
                                  ": not an IDX file (expected 0x000008NN) nor a .npy file");
  }
  const std::uint8_t type_code = contents[2];
  if (type_code != kUnsignedByte) {
    const char* name = other_idx_type_name(type_code);
    throw DataFileError(path, name != nullptr
                                  ? "unsupported IDX element type " + hex(type_code, 2) + " (" +
                                        name + "); only 0x08 (unsigned byte) is supported"
                                  : "unknown IDX type code " + hex(type_code, 2) +
                                        " in magic number " + hex(magic, 8));
  }
  const std::size_t dimension_count = contents[3];
  if (dimension_count == 0) throw DataFileError(path, "IDX header declares 0 dimensions");
  const std::size_t header_size = 4 + 4 * dimension_count;
  if (size < header_size) {
    throw DataFileError(path, "truncated IDX header: " + std::to_string(dimension_count) +
                                  " dimensions need " + std::to_string(header_size) +
                                  " header bytes, the file has " + std::to_string(size));
  }

  std::uint64_t value_count = 1;
  std::uint64_t row_size = 1;
  std::string shape;
  for (std::size_t d = 0; d < dimension_count; ++d) {
    const std::uint32_t extent = big_endian_u32(contents.data() + 4 + 4 * d);
    shape += (d == 0 ? "" : "x") + std::to_string(extent);
    if (extent == 0) {
      throw DataFileError(path, "dimension " + std::to_string(d) + " is 0 (no data)");
    }
    if (value_count > kMaxDataFileBytes / extent) {
      throw DataFileError(path, "dimensions overflow: the product of " + shape +
                                    "... exceeds the limit of " +
                                    std::to_string(kMaxDataFileBytes) + " values");
    }
    value_count *= extent;
    if (d > 0) row_size *= extent;
  }
  const std::size_t payload = size - header_size;
  if (payload < value_count) {
    throw DataFileError(path, "truncated: dimensions " + shape + " need " +
                                  std::to_string(value_count) + " bytes of data, the file has " +
                                  std::to_string(payload));
  }
  if (payload > value_count) {
    throw DataFileError(path, std::to_string(payload - value_count) +
                                  " bytes of trailing garbage after the " + shape + " data");
  }

  contents.erase(contents.begin(), contents.begin() + static_cast<std::ptrdiff_t>(header_size));
  DataMatrix data;
  data.source = path;
  data.type = ElementType::uint8;
  data.rows = static_cast<std::int64_t>(value_count / row_size);
  data.dim = static_cast<std::int64_t>(row_size);
  data.bytes = std::move(contents);
  return data;
}

DataMatrix read_idx_file(const std::string& path) {
  return parse_idx(path, read_file_contents(path));
}

}  // namespace vae_app
