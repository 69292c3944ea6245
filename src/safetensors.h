// Reading and writing safetensors files (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's
// dtype, shape and [begin, end) byte offsets into the data that follows, and
// an optional "__metadata__" object of string to string.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vae {

// One float32 tensor, row-major.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Tensor> tensors;
  // Set by read_safetensors: zlib's CRC-32 of the data section as read.
  // write_safetensors ignores it.
  uint32_t data_crc32 = 0;
};

// zlib's CRC-32 of the data section write_safetensors writes for `file`
// (the tensors' bytes in name order), to be put in its metadata.
uint32_t data_section_crc32(const SafetensorsFile& file);

// Writes atomically: a temporary file beside `path`, flushed and fsync'ed,
// then renamed over it, so a crash leaves either the old or the new file.
// Throws Error(VAE_ERROR_IO) with the path and the system's reason.
void write_safetensors(const std::string& path, const SafetensorsFile& file);

// Reads and checks everything before trusting it: header length within the
// file, valid JSON, only F32 tensors, no name twice, shapes whose products
// match their byte ranges, ranges inside the data, non-overlapping and
// covering it exactly, metadata values strings. Throws Error(VAE_ERROR_IO) when the file cannot
// be read, Error(VAE_ERROR_FORMAT) naming what is wrong otherwise.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace vae
