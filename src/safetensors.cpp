#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "error.h"

namespace vae {
namespace {

// The data section is copied to and from float vectors byte for byte, which is
// only the file's little-endian IEEE float32 on a little-endian IEEE host.
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4,
              "safetensors F32 needs IEEE 754 binary32 floats");
#if defined(__BYTE_ORDER__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this host is not");
#endif

using Json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kDtype = "F32";
constexpr uint64_t kLengthBytes = 8;
// The reference implementation's limit: a longer header is an attack or a
// corruption, and parsing it would cost memory out of proportion to any model.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Root object -> tensor entry -> shape or data_offsets array -> numbers; any
// deeper nesting is invalid, and refusing it while parsing keeps a hostile
// header from building millions of nested values first.
constexpr int kMaxContainerDepth = 2;

// Owns a file descriptor; closes it when it goes out of scope.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }

  // Closes now and returns close()'s result: on some file systems (NFS) it is
  // where a failed write is finally reported.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

// `error` is errno, saved by the caller before building the message can
// disturb it.
[[noreturn]] void fail_io(int error, const std::string& what) {
  fail(VAE_ERROR_IO, what + ": " + std::strerror(error));
}

[[noreturn]] void fail_format(const std::string& path, const std::string& what) {
  fail(VAE_ERROR_FORMAT, path + ": not a valid safetensors file: " + what);
}

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
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

// ---- Writing ----

// The JSON header, padded with spaces so that the data section begins at a
// multiple of 8 bytes, as the reference implementation writes it. Tensors are
// laid out in name order (the map's order), back to back.
std::string build_header(const SafetensorsFile& file) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header[kMetadataKey] = file.metadata;
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
    header[name] = {{"dtype", kDtype},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    // dump() refuses names and metadata that are not valid UTF-8.
    invalid_argument(std::string("safetensors header cannot be written: ") + e.what());
  }
  while ((kLengthBytes + text.size()) % 8 != 0) text.push_back(' ');
  return text;
}

void write_all(int fd, const void* data, size_t size, const std::string& temporary) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, p, size);
    if (written < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      fail_io(error, "cannot write " + temporary);
    }
    p += written;
    size -= static_cast<size_t>(written);
  }
}

// A new file beside the target, removed when this goes out of scope unless it
// has been renamed over the target.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& target) : fd_(create(target, name_)) {}
  ~TemporaryFile() {
    if (!name_.empty()) ::unlink(name_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

  // Makes the content durable, then puts it in the target's place in one step.
  void commit(const std::string& target) {
    if (::fsync(fd_.get()) != 0) {
      const int error = errno;
      fail_io(error, "cannot write " + target + ": fsync " + name_);
    }
    if (fd_.close() != 0) {
      const int error = errno;
      fail_io(error, "cannot write " + target + ": close " + name_);
    }
    if (::rename(name_.c_str(), target.c_str()) != 0) {
      const int error = errno;
      fail_io(error, "cannot write " + target + ": rename " + name_);
    }
    name_.clear();
  }

 private:
  // pid and counter keep concurrent writers, in this process or others,
  // apart; O_EXCL, and the retry, step past a stale file a crashed process
  // left behind. 0666 lets the umask decide the permissions, as for any new
  // file.
  static int create(const std::string& target, std::string& name) {
    static std::atomic<uint64_t> counter{0};
    int error = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
      name = target + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
      const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) return fd;
      error = errno;
      if (error != EEXIST) break;
    }
    // The constructor throws, so the destructor will not remove a file that
    // was never created.
    fail_io(error, "cannot write " + target + ": cannot create " + name);
  }

  std::string name_;  // before fd_: create() fills it
  UniqueFd fd_;
};

// Makes the rename itself durable. Best effort: the new file is already
// complete and in place, and some file systems cannot sync a directory.
void sync_directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string directory =
      slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

// ---- Reading ----

std::vector<unsigned char> read_file(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    fail_io(error, "cannot open " + path);
  }
  std::vector<unsigned char> bytes;
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0 && S_ISREG(info.st_mode)) {
    bytes.reserve(static_cast<size_t>(info.st_size));
  }
  // Read to the end rather than trusting the size: it only sizes the buffer.
  std::vector<unsigned char> chunk(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      fail_io(error, "cannot read " + path);
    }
    if (n == 0) return bytes;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
}

// A tensor's entry in the header, once checked.
struct Entry {
  const std::string* name;  // the header's key, which outlives the entry
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

// Checks the parts of a parsed header against the spec and the size of the
// data section, naming the file and what is wrong in the error.
class HeaderChecker {
 public:
  HeaderChecker(const std::string& path, uint64_t data_size) : path_(path), data_size_(data_size) {}

  std::map<std::string, std::string> metadata(const Json& value) const {
    if (!value.is_object()) {
      fail(std::string(kMetadataKey) + " is a " + value.type_name() + ", not an object");
    }
    std::map<std::string, std::string> out;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it->is_string()) {
        fail(std::string(kMetadataKey) + " value of '" + it.key() + "' is a " + it->type_name() +
             ", not a string");
      }
      out.emplace(it.key(), it->get<std::string>());
    }
    return out;
  }

  Entry entry(const std::string& name, const Json& value) const {
    const std::string where = "tensor '" + name + "': ";
    if (!value.is_object()) fail(where + "entry is a " + value.type_name() + ", not an object");
    if (value.size() != 3 || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets")) {
      fail(where + "entry must have exactly the keys dtype, shape and data_offsets");
    }
    const Json& dtype = value["dtype"];
    if (!dtype.is_string()) fail(where + "dtype is a " + dtype.type_name() + ", not a string");
    if (dtype.get_ref<const std::string&>() != kDtype) {
      fail(where + "dtype " + dtype.get<std::string>() + " is not supported (only " + kDtype + ")");
    }

    Entry e{&name, {}, 0, 0};
    const Json& shape = value["shape"];
    if (!shape.is_array()) fail(where + "shape is a " + shape.type_name() + ", not an array");
    e.shape.reserve(shape.size());
    for (const Json& extent : shape) {
      e.shape.push_back(static_cast<int64_t>(
          non_negative(extent, where + "shape", std::numeric_limits<int64_t>::max())));
    }
    const Json& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2) {
      fail(where + "data_offsets is not an array of two integers");
    }
    e.begin = non_negative(offsets[0], where + "data_offsets", std::numeric_limits<uint64_t>::max());
    e.end = non_negative(offsets[1], where + "data_offsets", std::numeric_limits<uint64_t>::max());

    const std::string range =
        "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) fail(where + range + " begin after they end");
    if (e.end > data_size_) {
      fail(where + range + " reach past the " + std::to_string(data_size_) + "-byte data section");
    }
    // Compared by division first so that the byte count cannot overflow.
    const uint64_t bytes = e.end - e.begin;
    const std::optional<uint64_t> count = element_count(e.shape);
    if (!count || *count > bytes / sizeof(float) || *count * sizeof(float) != bytes) {
      fail(where + "shape " + shape_string(e.shape) + " does not fill the " + std::to_string(bytes) +
           " bytes of " + range);
    }
    return e;
  }

  // The ranges must tile the data section: sorted, each starts where the last
  // ended, and the last ends at its end. This also refuses a zero-length range
  // inside another, as the reference implementation does.
  void coverage(std::vector<Entry>& entries) const {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t next = 0;
    for (const Entry& e : entries) {
      if (e.begin < next) {
        fail("tensor '" + *e.name + "' overlaps another tensor's bytes (it begins at " +
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

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_format(path_, what); }

  uint64_t non_negative(const Json& value, const std::string& what, uint64_t max) const {
    // nlohmann holds non-negative integer literals as unsigned; negative ones,
    // fractions and integers past 2^64 have other types.
    if (!value.is_number_unsigned()) {
      if (value.is_number_integer()) fail(what + " holds a negative number");
      fail(what + " holds a " + value.type_name() + ", not a non-negative integer");
    }
    const uint64_t v = value.get<uint64_t>();
    if (v > max) fail(what + " holds " + std::to_string(v) + ", which is too large");
    return v;
  }

  const std::string& path_;
  uint64_t data_size_;
};

Json parse_header(const std::string& path, const unsigned char* first, const unsigned char* last) {
  const Json::parser_callback_t limit_depth = [&path](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth > kMaxContainerDepth) {
      fail_format(path, "the header's JSON is nested deeper than a safetensors header can be");
    }
    return true;
  };
  // nlohmann takes a NUL byte for the end of the input, which would let bytes
  // after it pass unread; valid JSON cannot contain one.
  if (std::find(first, last, '\0') != last) fail_format(path, "the header contains a NUL byte");
  try {
    return Json::parse(first, last, limit_depth);
  } catch (const nlohmann::json::exception& e) {
    fail_format(path, std::string("the header is not valid JSON: ") + e.what());
  }
}

}  // namespace

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  const std::string header = build_header(file);
  unsigned char length[kLengthBytes];
  for (size_t i = 0; i < kLengthBytes; ++i) {
    length[i] = static_cast<unsigned char>(header.size() >> (8 * i));
  }

  TemporaryFile temporary(path);
  write_all(temporary.fd(), length, sizeof length, temporary.name());
  write_all(temporary.fd(), header.data(), header.size(), temporary.name());
  for (const auto& entry : file.tensors) {
    const std::vector<float>& data = entry.second.data;
    write_all(temporary.fd(), data.data(), data.size() * sizeof(float), temporary.name());
  }
  temporary.commit(path);
  sync_directory_of(path);
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path);
  const uint64_t size = bytes.size();
  if (size < kLengthBytes) {
    fail_format(path, "the file is " + std::to_string(size) +
                          " bytes, too short for the 8-byte header length");
  }
  uint64_t header_size = 0;
  for (size_t i = 0; i < kLengthBytes; ++i) header_size |= uint64_t{bytes[i]} << (8 * i);
  if (header_size > kMaxHeaderBytes) {
    fail_format(path, "header length " + std::to_string(header_size) + " exceeds the limit of " +
                          std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (header_size > size - kLengthBytes) {
    fail_format(path, "header length " + std::to_string(header_size) + " runs past the end of the " +
                          std::to_string(size) + "-byte file");
  }
  const unsigned char* data = bytes.data() + kLengthBytes + header_size;
  const Json header = parse_header(path, bytes.data() + kLengthBytes, data);
  if (!header.is_object()) {
    fail_format(path, std::string("the header is a JSON ") + header.type_name() + ", not an object");
  }

  const HeaderChecker check(path, size - kLengthBytes - header_size);
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      file.metadata = check.metadata(*it);
    } else {
      entries.push_back(check.entry(it.key(), *it));
    }
  }
  check.coverage(entries);

  for (Entry& e : entries) {
    Tensor& tensor = file.tensors[*e.name];
    tensor.shape = std::move(e.shape);
    // coverage() proved these bytes lie inside the data section.
    tensor.data.resize((e.end - e.begin) / sizeof(float));
    if (!tensor.data.empty()) std::memcpy(tensor.data.data(), data + e.begin, e.end - e.begin);
  }
  return file;
}

}  // namespace vae
