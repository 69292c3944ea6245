#include "npy_reader.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "data_file_error.h"
#include "file_contents.h"

namespace vae_app {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "'<f4' data is copied as is: the host must be little-endian");

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// numpy itself refuses headers over 10000 bytes unless told otherwise.
constexpr std::size_t kMaxHeaderSize = std::size_t{1} << 20;

struct NpyHeader {
  ElementType type = ElementType::uint8;
  std::vector<std::uint64_t> shape;
};

// A strict parser of the header's Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  NpyHeader parse() {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<std::uint64_t>> shape;
    expect('{');
    while (!accept('}')) {
      const std::string key = parse_string();
      expect(':');
      if (key == "descr" && !descr) {
        descr = parse_string();
      } else if (key == "fortran_order" && !fortran_order) {
        fortran_order = parse_bool();
      } else if (key == "shape" && !shape) {
        shape = parse_shape();
      } else if (key == "descr" || key == "fortran_order" || key == "shape") {
        fail("key '" + key + "' appears twice");
      } else {
        fail("unexpected key '" + key + "' (expected descr, fortran_order, shape)");
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (position_ != text_.size()) fail("unexpected text after the closing '}'");
    if (!descr) fail("the key 'descr' is missing");
    if (!fortran_order) fail("the key 'fortran_order' is missing");
    if (!shape) fail("the key 'shape' is missing");
    if (*fortran_order) {
      throw DataFileError(path_, "fortran_order True is not supported; save the array in C order");
    }
    return NpyHeader{element_type(*descr), *shape};
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw DataFileError(
        path_, "bad .npy header at character " + std::to_string(position_) + ": " + problem);
  }

  void skip_space() {
    while (position_ < text_.size() &&
           (text_[position_] == ' ' || text_[position_] == '\t' || text_[position_] == '\n')) {
      ++position_;
    }
  }

  bool accept(char wanted) {
    skip_space();
    if (position_ < text_.size() && text_[position_] == wanted) {
      ++position_;
      return true;
    }
    return false;
  }

  void expect(char wanted) {
    if (!accept(wanted)) fail(std::string("expected '") + wanted + "'");
  }

  std::string parse_string() {
    skip_space();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"')) {
      fail("expected a quoted string");
    }
    const char quote = text_[position_++];
    const std::size_t end = text_.find(quote, position_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string value(text_.substr(position_, end - position_));
    if (value.find('\\') != std::string::npos) fail("escapes in strings are not supported");
    position_ = end + 1;
    return value;
  }

  bool parse_bool() {
    skip_space();
    for (const auto& [word, value] :
         {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}}) {
      if (text_.substr(position_, word.size()) == word) {
        position_ += word.size();
        return value;
      }
    }
    fail("expected True or False");
  }

  std::uint64_t parse_extent() {
    skip_space();
    const std::size_t start = position_;
    std::uint64_t value = 0;
    while (position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[position_] - '0');
      if (value > (kMaxDataFileBytes - digit) / 10) fail("shape dimension too large (overflow)");
      value = value * 10 + digit;
      ++position_;
    }
    if (position_ == start) fail("expected a non-negative integer in the shape");
    return value;
  }

  // A Python tuple of integers: (), (n,), (n, m), (n, m,) ...
  std::vector<std::uint64_t> parse_shape() {
    expect('(');
    std::vector<std::uint64_t> extents;
    if (accept(')')) return extents;
    for (;;) {
      extents.push_back(parse_extent());
      const bool comma = accept(',');
      if (accept(')')) {
        if (extents.size() == 1 && !comma) fail("a one-element shape needs a trailing comma: (n,)");
        return extents;
      }
      if (!comma) fail("expected ',' or ')' in the shape");
    }
  }

  ElementType element_type(const std::string& descr) const {
    if (descr == "|u1" || descr == "<u1") return ElementType::uint8;
    if (descr == "<f4") return ElementType::float32;
    if (descr == ">f4") {
      throw DataFileError(path_, "big-endian dtype '>f4' is not supported; use '<f4'");
    }
    throw DataFileError(path_, "unsupported dtype '" + descr +
                                   "' (supported: '|u1', '<u1' for bytes, '<f4' for float32)");
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t position_ = 0;
};

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

bool has_npy_magic(const std::vector<std::uint8_t>& contents) {
  return contents.size() >= kMagicSize && std::memcmp(contents.data(), kMagic, kMagicSize) == 0;
}

DataMatrix parse_npy(const std::string& path, std::vector<std::uint8_t> contents) {
  if (!has_npy_magic(contents)) throw DataFileError(path, "bad magic: not a .npy file");
  if (contents.size() < kMagicSize + 2) throw DataFileError(path, "truncated .npy preamble");
  const int major = contents[6];
  const int minor = contents[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    throw DataFileError(path, "unsupported .npy format version " + std::to_string(major) + "." +
                                  std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t length_size = major == 1 ? 2 : 4;
  const std::size_t preamble_size = kMagicSize + 2 + length_size;
  if (contents.size() < preamble_size) throw DataFileError(path, "truncated .npy preamble");
  std::size_t header_size = 0;
  for (std::size_t i = 0; i < length_size; ++i) {
    header_size |= std::size_t{contents[kMagicSize + 2 + i]} << (8 * i);
  }
  if (header_size > kMaxHeaderSize) {
    throw DataFileError(path, ".npy header length " + std::to_string(header_size) +
                                  " exceeds the limit of " + std::to_string(kMaxHeaderSize));
  }
  const std::size_t data_offset = preamble_size + header_size;
  if (contents.size() < data_offset) {
    throw DataFileError(path, "truncated .npy header: " + std::to_string(header_size) +
                                  " bytes declared, " +
                                  std::to_string(contents.size() - preamble_size) + " present");
  }
  const std::string_view header_text(reinterpret_cast<const char*>(contents.data()) + preamble_size,
                                     header_size);
  const NpyHeader header = HeaderParser(path, header_text).parse();

  if (header.shape.empty()) {
    throw DataFileError(path, "shape () is a scalar; need one or more dimensions");
  }
  const std::size_t value_size = header.type == ElementType::uint8 ? 1 : 4;
  std::uint64_t value_count = 1;
  for (const std::uint64_t extent : header.shape) {
    if (extent == 0) {
      throw DataFileError(path, "shape " + shape_text(header.shape) + " has no elements");
    }
    if (value_count > kMaxDataFileBytes / value_size / extent) {
      throw DataFileError(path, "shape " + shape_text(header.shape) +
                                    " overflows: more data than the limit of " +
                                    std::to_string(kMaxDataFileBytes) + " bytes");
    }
    value_count *= extent;
  }
  const std::uint64_t data_size = value_count * value_size;
  const std::size_t payload = contents.size() - data_offset;
  if (payload < data_size) {
    throw DataFileError(path, "truncated: shape " + shape_text(header.shape) + " needs " +
                                  std::to_string(data_size) + " bytes of data, the file has " +
                                  std::to_string(payload));
  }
  if (payload > data_size) {
    throw DataFileError(
        path, std::to_string(payload - data_size) + " bytes of trailing garbage after the data");
  }

  DataMatrix data;
  data.source = path;
  data.type = header.type;
  data.rows = static_cast<std::int64_t>(header.shape[0]);
  data.dim = static_cast<std::int64_t>(value_count / header.shape[0]);
  if (header.type == ElementType::uint8) {
    contents.erase(contents.begin(), contents.begin() + static_cast<std::ptrdiff_t>(data_offset));
    data.bytes = std::move(contents);
    return data;
  }
  data.floats.resize(static_cast<std::size_t>(value_count));
  std::memcpy(data.floats.data(), contents.data() + data_offset,
              static_cast<std::size_t>(data_size));
  for (std::size_t i = 0; i < data.floats.size(); ++i) {
    if (!std::isfinite(data.floats[i])) {
      const auto dim = static_cast<std::size_t>(data.dim);
      const float value = data.floats[i];
      const char* name = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
      throw DataFileError(path, std::string("non-finite value ") + name + " at row " +
                                    std::to_string(i / dim) + ", column " +
                                    std::to_string(i % dim));
    }
  }
  return data;
}

DataMatrix read_npy_file(const std::string& path) {
  return parse_npy(path, read_file_contents(path));
}

}  // namespace vae_app
