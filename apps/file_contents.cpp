#include "file_contents.h"

#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "data_file_error.h"
#include "regular_file.h"

namespace vae_app {
namespace {

// zlib takes at most 4 GiB per call; hand it 1 GiB at a time.
constexpr std::size_t kZlibChunk = std::size_t{1} << 30;
constexpr std::size_t kReadChunk = std::size_t{1} << 20;

std::string byte_count(std::uint64_t bytes) { return std::to_string(bytes) + " bytes"; }

std::vector<std::uint8_t> read_raw(const std::string& path, std::uint64_t max_bytes) {
  std::error_code error;
  const InputFile file = open_regular_file(path);

  std::vector<std::uint8_t> contents;
  const std::uintmax_t size_hint = std::filesystem::file_size(path, error);
  if (!error) {
    if (size_hint > max_bytes) {
      throw DataFileError(path, "file is " + byte_count(size_hint) + ", over the limit of " +
                                    byte_count(max_bytes));
    }
    contents.reserve(static_cast<std::size_t>(size_hint) + kReadChunk);
  }
  std::size_t filled = 0;
  for (;;) {
    contents.resize(filled + kReadChunk);
    const std::size_t got = std::fread(contents.data() + filled, 1, kReadChunk, file.get());
    filled += got;
    if (filled > max_bytes) {
      throw DataFileError(path, "file is over the limit of " + byte_count(max_bytes));
    }
    if (got < kReadChunk) break;
  }
  if (std::ferror(file.get())) {
    throw DataFileError(path, std::string("read error: ") + std::strerror(errno));
  }
  contents.resize(filled);
  contents.shrink_to_fit();
  return contents;
}

// Owns a z_stream set up for gzip decoding.
class GzipInflater {
 public:
  explicit GzipInflater(const std::string& path) {
    if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) {
      throw DataFileError(path, "cannot start gzip decompression (out of memory)");
    }
  }
  ~GzipInflater() { inflateEnd(&stream_); }
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;
  z_stream& stream() { return stream_; }

 private:
  z_stream stream_{};
};

std::vector<std::uint8_t> inflate_gzip(const std::string& path,
                                       const std::vector<std::uint8_t>& compressed,
                                       std::uint64_t max_bytes) {
  GzipInflater inflater(path);
  z_stream& stream = inflater.stream();
  const std::uint8_t* const input_end = compressed.data() + compressed.size();
  stream.next_in = compressed.data();
  stream.avail_in = 0;

  // Room for one byte past the limit tells "exactly at the limit" from "over".
  const std::uint64_t capacity_limit = max_bytes + 1;
  std::vector<std::uint8_t> output(static_cast<std::size_t>(std::min<std::uint64_t>(
      capacity_limit, std::max<std::uint64_t>(std::uint64_t{4} * compressed.size(), 1 << 16))));
  std::size_t produced = 0;
  for (;;) {
    if (produced == output.size()) {
      output.resize(static_cast<std::size_t>(
          std::min<std::uint64_t>(capacity_limit, std::uint64_t{2} * output.size())));
    }
    if (stream.avail_in == 0) {
      stream.avail_in = static_cast<uInt>(
          std::min<std::size_t>(static_cast<std::size_t>(input_end - stream.next_in), kZlibChunk));
    }
    stream.next_out = output.data() + produced;
    stream.avail_out = static_cast<uInt>(std::min(output.size() - produced, kZlibChunk));
    const uInt room = stream.avail_out;
    const int result = inflate(&stream, Z_NO_FLUSH);
    produced += room - stream.avail_out;
    if (produced > max_bytes) {
      throw DataFileError(
          path, "gzip data decompresses to more than the limit of " + byte_count(max_bytes));
    }
    if (result == Z_STREAM_END) {
      const auto rest = static_cast<std::size_t>(input_end - stream.next_in);
      if (rest == 0) break;
      if (rest >= 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b) {
        inflateReset(&stream);  // another gzip member follows
        continue;
      }
      throw DataFileError(path, byte_count(rest) + " of trailing garbage after the gzip stream");
    }
    if (result == Z_OK) continue;
    if (result == Z_BUF_ERROR && stream.avail_in == 0 && stream.next_in == input_end) {
      throw DataFileError(path, "truncated gzip stream (unexpected end of file after " +
                                    byte_count(compressed.size()) + ")");
    }
    if (result == Z_BUF_ERROR) continue;  // the output buffer grows on the next turn
    throw DataFileError(path, std::string("corrupt gzip data: ") +
                                  (stream.msg != nullptr ? stream.msg : "inflate failed"));
  }
  output.resize(produced);
  output.shrink_to_fit();
  return output;
}

}  // namespace

std::vector<std::uint8_t> read_file_contents(const std::string& path, std::uint64_t max_bytes) {
  std::vector<std::uint8_t> contents = read_raw(path, max_bytes);
  if (contents.empty()) throw DataFileError(path, "file is empty");
  if (contents.size() >= 2 && contents[0] == 0x1f && contents[1] == 0x8b) {
    contents = inflate_gzip(path, contents, max_bytes);
    if (contents.empty()) throw DataFileError(path, "gzip stream decompresses to nothing");
  }
  return contents;
}

}  // namespace vae_app
