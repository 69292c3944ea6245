#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>

#include <zlib.h>

#include "error.h"
#include "safetensors_header.h"

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

constexpr uint64_t kLengthBytes = 8;
// The reference implementation's limit: a longer header is an attack or a
// corruption, and parsing it would cost memory out of proportion to any model.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// zlib's CRC-32 of `size` bytes, continuing from `crc`.
uint32_t crc32_of(uint32_t crc, const void* data, size_t size) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), size));
}

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

// ---- Writing ----

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

// The directory that holds `path`.
std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Makes a rename inside `directory` durable. Best effort: the new file is
// already complete and in place, and some file systems cannot sync a
// directory. Allocates nothing, so nothing can fail once the file is in place.
void sync_directory(const std::string& directory) {
  const UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

// ---- Reading ----

// Reads exactly `size` bytes at the file's position into dst; a file that
// ends first (it shrank since its size was read) is refused.
void read_exactly(int fd, void* dst, uint64_t size, const std::string& path) {
  auto* out = static_cast<unsigned char*>(dst);
  uint64_t done = 0;
  while (done < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - done, 1 << 20));
    const ssize_t n = ::read(fd, out + done, want);
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      fail_io(error, "cannot read " + path);
    }
    if (n == 0) {
      fail_format(path, "the file ended " + std::to_string(size - done) +
                            " bytes before the end its header describes (it changed while read)");
    }
    done += static_cast<uint64_t>(n);
  }
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait for one
  // forever; a regular file's reads ignore the flag.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) {
    const int error = errno;
    fail_io(error, "cannot open " + path);
  }
  try {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
      const int error = errno;
      fail_io(error, "cannot read " + path);
    }
    if (!S_ISREG(info.st_mode)) {
      fail(VAE_ERROR_IO, "cannot read " + path + ": not a regular file (" +
                             (S_ISDIR(info.st_mode)    ? "a directory"
                              : S_ISFIFO(info.st_mode) ? "a FIFO"
                              : S_ISSOCK(info.st_mode) ? "a socket"
                                                       : "a device") +
                             "); a checkpoint is read only from a regular file");
    }
    const uint64_t size = static_cast<uint64_t>(info.st_size);
    if (size < kLengthBytes) {
      fail_format(path, "the file is " + std::to_string(size) +
                            " bytes, too short for the 8-byte header length");
    }
    unsigned char length[kLengthBytes];
    read_exactly(fd_, length, kLengthBytes, path);
    uint64_t header_size = 0;
    for (size_t i = 0; i < kLengthBytes; ++i) header_size |= uint64_t{length[i]} << (8 * i);
    if (header_size > kMaxHeaderBytes) {
      fail_format(path, "header length " + std::to_string(header_size) +
                            " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
    }
    if (header_size > size - kLengthBytes) {
      fail_format(path, "header length " + std::to_string(header_size) +
                            " runs past the end of the " + std::to_string(size) + "-byte file");
    }
    std::vector<unsigned char> text(static_cast<size_t>(header_size));
    read_exactly(fd_, text.data(), header_size, path);
    data_size_ = size - kLengthBytes - header_size;
    Header header = parse_header(path, text.data(), text.data() + text.size(), data_size_);
    file_.metadata = std::move(header.metadata);
    for (HeaderEntry& e : header.entries) {
      file_.tensors[e.name].shape = std::move(e.shape);
      order_.emplace_back(std::move(e.name), e.end - e.begin);
    }
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

SafetensorsReader::~SafetensorsReader() { ::close(fd_); }

SafetensorsFile SafetensorsReader::read_data() {
  SafetensorsFile file = file_;
  uint32_t crc = crc32_of(0, nullptr, 0);
  // The entries tile the data section in this order (parse_header).
  for (const auto& [name, bytes] : order_) {
    std::vector<float>& data = file.tensors[name].data;
    data.resize(static_cast<size_t>(bytes / sizeof(float)));
    read_exactly(fd_, data.data(), bytes, path_);
    crc = crc32_of(crc, data.data(), static_cast<size_t>(bytes));
  }
  file.data_crc32 = crc;
  return file;
}


uint32_t data_section_crc32(const SafetensorsFile& file) {
  uint32_t crc = crc32_of(0, nullptr, 0);
  for (const auto& entry : file.tensors) {
    const std::vector<float>& data = entry.second.data;
    crc = crc32_of(crc, data.data(), data.size() * sizeof(float));
  }
  return crc;
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  const std::string header = build_header(file);
  const std::string directory = directory_of(path);
  unsigned char length[kLengthBytes];
  for (size_t i = 0; i < kLengthBytes; ++i) {
    length[i] = static_cast<unsigned char>(header.size() >> (8 * i));
  }

  TemporaryFile temporary(path);
  write_all(temporary.fd(), length, sizeof length, temporary.name());
  write_all(temporary.fd(), header.data(), header.size(), temporary.name());
  // In name order, as build_header laid them out.
  for (const auto& entry : file.tensors) {
    const std::vector<float>& data = entry.second.data;
    write_all(temporary.fd(), data.data(), data.size() * sizeof(float), temporary.name());
  }
  temporary.commit(path);
  sync_directory(directory);
}

SafetensorsFile read_safetensors(const std::string& path) {
  SafetensorsReader reader(path);
  return reader.read_data();
}

}  // namespace vae
