#include "safetensors_header.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "error.h"

namespace vae {
namespace {

using Json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kDtype = "F32";
constexpr uint64_t kLengthBytes = 8;

// The number of elements of a shape of non-negative extents, or nothing when
// it overflows. A zero extent makes the product zero whatever the others are,
// so it is looked for first rather than letting earlier extents overflow.
std::optional<uint64_t> element_count(const std::vector<int64_t>& shape) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  uint64_t count = 1;
  for (const int64_t extent : shape) {
    const auto e = static_cast<uint64_t>(extent);
    if (count > std::numeric_limits<uint64_t>::max() / e) return std::nullopt;
    count *= e;
  }
  return count;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// ---- Writing ----

// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing past U+10FFFF), as JSON text must be.
bool valid_utf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t least = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2, code = lead & 0x1Fu, least = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code = lead & 0x0Fu, least = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code = lead & 0x07u, least = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3Fu);
    }
    if (code < least || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// Appends `text` as a JSON string: quotes, backslashes and control
// characters escaped, everything else as it is.
void append_string(std::string& out, const std::string& text) {
  if (!valid_utf8(text)) {
    invalid_argument("safetensors header cannot be written: '" + text + "' is not valid UTF-8");
  }
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

// ---- Reading ----

// What a JSON value is, as the SAX events tell it.
enum class Kind { kNull, kBoolean, kNegative, kUnsigned, kFloat, kString, kBinary, kObject, kArray };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBoolean: return "boolean";
    case Kind::kString: return "string";
    case Kind::kBinary: return "binary value";
    case Kind::kObject: return "object";
    case Kind::kArray: return "array";
    default: return "number";
  }
}

std::string a_kind(Kind kind) {
  return (kind == Kind::kObject || kind == Kind::kArray ? "an " : "a ") + std::string(kind_name(kind));
}

// nlohmann's SAX handler for a safetensors header. Each event is checked
// where it arrives; every refusal throws Error(VAE_ERROR_FORMAT), so no
// event handler returns false.
class HeaderReader {
 public:
  HeaderReader(const std::string& path, uint64_t data_size) : path_(path), data_size_(data_size) {}

  // The header, once the parser has gone through all of it.
  Header take_header() {
    coverage();
    return std::move(header_);
  }

  bool null() { return value(Kind::kNull); }
  bool boolean(bool) { return value(Kind::kBoolean); }
  bool number_integer(Json::number_integer_t) { return value(Kind::kNegative); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return value(Kind::kFloat); }
  bool binary(Json::binary_t&) { return value(Kind::kBinary); }

  bool number_unsigned(Json::number_unsigned_t number) {
    if (place_ != Place::kShape && place_ != Place::kOffsets) return value(Kind::kUnsigned);
    if (place_ == Place::kShape) {
      if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(where() + "shape holds " + std::to_string(number) + ", which is too large");
      }
      entry_.shape.push_back(static_cast<int64_t>(number));
    } else {
      if (offsets_ == 2) fail(where() + "data_offsets is not an array of two integers");
      (offsets_++ == 0 ? entry_.begin : entry_.end) = number;
    }
    return true;
  }

  bool string(Json::string_t& text) {
    if (place_ == Place::kMetadata) {
      header_.metadata.emplace(std::move(key_), std::move(text));
      return true;
    }
    if (place_ == Place::kEntry && field_ == Field::kDtypeKey) {
      if (text != kDtype) fail(where() + "dtype " + text + " is not supported (only " + kDtype + ")");
      return true;
    }
    return value(Kind::kString);
  }

  bool start_object(std::size_t) {
    if (place_ == Place::kTop) {
      place_ = Place::kRoot;
    } else if (place_ == Place::kRoot && metadata_next_) {
      place_ = Place::kMetadata;
    } else if (place_ == Place::kRoot) {
      place_ = Place::kEntry;
      seen_ = {};
    } else {
      value(Kind::kObject);
    }
    return true;
  }

  bool start_array(std::size_t) {
    if (place_ == Place::kEntry && field_ == Field::kShapeKey) {
      place_ = Place::kShape;
    } else if (place_ == Place::kEntry && field_ == Field::kOffsetsKey) {
      place_ = Place::kOffsets;
      offsets_ = 0;
    } else {
      value(Kind::kArray);
    }
    return true;
  }

  bool key(Json::string_t& name) {
    if (place_ == Place::kRoot) {
      metadata_next_ = name == kMetadataKey;
      if (!names_.insert(name).second) fail("'" + name + "' appears twice in the header");
      entry_ = HeaderEntry{};
      entry_.name = std::move(name);
    } else if (place_ == Place::kMetadata) {
      if (header_.metadata.count(name) != 0) {
        fail(std::string(kMetadataKey) + " has the key '" + name + "' twice");
      }
      key_ = std::move(name);
    } else {
      field_ = name == "dtype" ? Field::kDtypeKey
               : name == "shape" ? Field::kShapeKey
               : name == "data_offsets" ? Field::kOffsetsKey
                                        : Field::kNone;
      const auto bit = static_cast<unsigned>(field_);
      if (field_ == Field::kNone || (seen_ & bit) != 0) fail(where() + kKeys);
      seen_ |= bit;
    }
    return true;
  }

  bool end_object() {
    if (place_ == Place::kEntry) {
      if (seen_ != kAllFields) fail(where() + kKeys);
      finish_entry();
      place_ = Place::kRoot;
    } else {
      place_ = place_ == Place::kMetadata ? Place::kRoot : Place::kDone;
    }
    return true;
  }

  bool end_array() {
    if (place_ == Place::kOffsets && offsets_ != 2) {
      fail(where() + "data_offsets is not an array of two integers");
    }
    place_ = Place::kEntry;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    fail(std::string("the header is not valid JSON: ") + e.what());
  }

 private:
  // Where the parser is: before the root, in the root object, in the
  // metadata, in a tensor's entry, in its shape or its data_offsets.
  enum class Place { kTop, kRoot, kMetadata, kEntry, kShape, kOffsets, kDone };
  // The entry's key whose value comes next; bits of seen_.
  enum class Field : unsigned { kNone = 0, kDtypeKey = 1, kShapeKey = 2, kOffsetsKey = 4 };
  static constexpr unsigned kAllFields = 7;
  static constexpr const char* kKeys = "entry must have exactly the keys dtype, shape and data_offsets";

  [[noreturn]] void fail(const std::string& what) const { fail_format(path_, what); }

  std::string where() const { return "tensor '" + entry_.name + "': "; }

  // A value that is not what its place needs.
  [[noreturn]] bool value(Kind kind) {
    const std::string a = a_kind(kind);
    switch (place_) {
      case Place::kTop:
        fail(std::string("the header is a JSON ") + kind_name(kind) + ", not an object");
      case Place::kRoot:
        if (metadata_next_) fail(std::string(kMetadataKey) + " is " + a + ", not an object");
        fail(where() + "entry is " + a + ", not an object");
      case Place::kMetadata:
        fail(std::string(kMetadataKey) + " value of '" + key_ + "' is " + a + ", not a string");
      case Place::kShape:
      case Place::kOffsets: {
        const std::string what = where() + (place_ == Place::kShape ? "shape" : "data_offsets");
        if (kind == Kind::kNegative) fail(what + " holds a negative number");
        fail(what + " holds " + a + ", not a non-negative integer");
      }
      default:
        if (field_ == Field::kDtypeKey) fail(where() + "dtype is " + a + ", not a string");
        if (field_ == Field::kShapeKey) fail(where() + "shape is " + a + ", not an array");
        fail(where() + "data_offsets is not an array of two integers");
    }
  }

  void finish_entry() {
    HeaderEntry& e = entry_;
    const std::string range =
        "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) fail(where() + range + " begin after they end");
    if (e.end > data_size_) {
      fail(where() + range + " reach past the " + std::to_string(data_size_) + "-byte data section");
    }
    // Compared by division first so that the byte count cannot overflow.
    const uint64_t bytes = e.end - e.begin;
    const std::optional<uint64_t> count = element_count(e.shape);
    if (!count || *count > bytes / sizeof(float) || *count * sizeof(float) != bytes) {
      fail(where() + "shape " + shape_string(e.shape) + " does not fill the " +
           std::to_string(bytes) + " bytes of " + range);
    }
    header_.entries.push_back(std::move(e));
  }

  // The ranges must tile the data section: sorted, each starts where the last
  // ended, and the last ends at its end. This also refuses a zero-length range
  // inside another, as the reference implementation does.
  void coverage() {
    std::vector<HeaderEntry>& entries = header_.entries;
    std::sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t next = 0;
    for (const HeaderEntry& e : entries) {
      if (e.begin < next) {
        fail("tensor '" + e.name + "' overlaps another tensor's bytes (it begins at " +
             std::to_string(e.begin) + ", the one before it ends at " + std::to_string(next) + ")");
      }
      if (e.begin > next) {
        fail("a gap: bytes " + std::to_string(next) + " to " + std::to_string(e.begin) +
             " of the data section belong to no tensor");
      }
      next = e.end;
    }
    if (next != data_size_) {
      fail(std::to_string(data_size_ - next) + " trailing bytes after the last tensor");
    }
  }

  const std::string& path_;
  uint64_t data_size_;
  Header header_;
  Place place_ = Place::kTop;
  std::set<std::string> names_;
  bool metadata_next_ = false;  // in the root: the value coming is the metadata
  std::string key_;             // in the metadata: the key of the value coming
  HeaderEntry entry_;           // the entry being read
  Field field_ = Field::kNone;
  unsigned seen_ = 0;           // the entry's fields read so far
  int offsets_ = 0;             // data_offsets read so far
};

}  // namespace

void fail_format(const std::string& path, const std::string& what) {
  fail(VAE_ERROR_FORMAT, path + ": not a valid safetensors file: " + what);
}

std::string build_header(const SafetensorsFile& file) {
  std::string text = "{";
  if (!file.metadata.empty()) {
    append_string(text, kMetadataKey);
    text += ":{";
    for (const auto& [key, value] : file.metadata) {
      if (text.back() != '{') text += ',';
      append_string(text, key);
      text += ':';
      append_string(text, value);
    }
    text += '}';
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    if (name == kMetadataKey) invalid_argument(std::string("a tensor cannot be named ") + kMetadataKey);
    const bool valid_extents = std::all_of(tensor.shape.begin(), tensor.shape.end(),
                                           [](int64_t e) { return e >= 0; });
    const std::optional<uint64_t> count = valid_extents ? element_count(tensor.shape) : std::nullopt;
    if (!count || *count != tensor.data.size()) {
      invalid_argument("tensor '" + name + "' has shape " + shape_string(tensor.shape) + " but " +
                       std::to_string(tensor.data.size()) + " values");
    }
    const uint64_t bytes = *count * sizeof(float);
    if (text.size() > 1) text += ',';
    append_string(text, name);
    text += R"(:{"dtype":")";
    text += kDtype;
    text += R"(","shape":[)";
    for (size_t i = 0; i < tensor.shape.size(); ++i) {
      if (i > 0) text += ',';
      text += std::to_string(tensor.shape[i]);
    }
    text += R"(],"data_offsets":[)" + std::to_string(offset) + ',' +
            std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  text += '}';
  while ((kLengthBytes + text.size()) % 8 != 0) text += ' ';
  return text;
}

Header parse_header(const std::string& path, const unsigned char* first,
                    const unsigned char* last, uint64_t data_size) {
  // nlohmann takes a NUL byte for the end of the input, which would let bytes
  // after it pass unread; valid JSON cannot contain one.
  if (std::find(first, last, '\0') != last) fail_format(path, "the header contains a NUL byte");
  HeaderReader reader(path, data_size);
  // Every refusal throws, so the parse either throws or goes through.
  Json::sax_parse(first, last, &reader);
  return reader.take_header();
}

}  // namespace vae
