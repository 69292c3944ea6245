// Reading and writing safetensors files (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's
// dtype, shape and [begin, end) byte offsets into the data that follows, and
// an optional "__metadata__" object of string to string.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
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

// A safetensors file opened for reading, its header read and checked before
// any of its data: the header length within the file's size, valid JSON,
// only F32 tensors, no name twice, shapes whose products match their byte
// ranges, ranges inside the data, non-overlapping and covering it exactly,
// metadata values strings. Only a regular file is read: a FIFO or a device
// (/dev/zero) could block or never end. The data section is read by
// read_data, exactly the bytes the header describes, so a caller can check
// the header (the model it describes) first. Throws Error(VAE_ERROR_IO) when
// the file cannot be read or is not a regular file, Error(VAE_ERROR_FORMAT)
// naming what is wrong otherwise.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  // The metadata and every tensor's shape, its data not read yet.
  const SafetensorsFile& header() const { return file_; }
  // The bytes of the data section the header describes.
  uint64_t data_size() const { return data_size_; }
  // Reads the data section (once): the whole file, data_crc32 set.
  SafetensorsFile read_data();

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t data_size_ = 0;
  SafetensorsFile file_;
  // The tensors in the order of their bytes, and their sizes in bytes.
  std::vector<std::pair<std::string, uint64_t>> order_;
};

// Header and data at once (SafetensorsReader).
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace vae
