// What the fuzz targets share: files the library can open that hold the fuzz
// input (in memory), a scratch directory for checkpoints the library writes,
// and the way a target reports a broken invariant (abort, so libFuzzer keeps
// the input that did it).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace vae_fuzz {

using Bytes = std::vector<std::uint8_t>;

// Reports a broken invariant and stops the process; libFuzzer saves the input.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\n==== fuzz finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void require(bool holds, const std::string& what) {
  if (!holds) finding(what);
}

// A file in memory (memfd) that any open() of path() reads: how the targets
// hand their input to readers that take a path, without touching a disk.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("vae-fuzz-input", MFD_CLOEXEC)) {
    require(fd_ >= 0, "memfd_create failed");
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the file's contents.
  void assign(const std::uint8_t* data, std::size_t size) {
    require(::ftruncate(fd_, 0) == 0, "ftruncate of the memory file failed");
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      require(n > 0, "write to the memory file failed");
      done += static_cast<std::size_t>(n);
    }
  }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// A fresh directory under /dev/shm (or TMPDIR) for the process's lifetime,
// named after the process: a fuzzer killed at its time limit cannot remove
// its own, so each new one removes those of processes that are gone.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    const char* shm = "/dev/shm";
    const char* tmp = std::getenv("TMPDIR");
    const std::string base = std::filesystem::is_directory(shm) ? shm : tmp ? tmp : "/tmp";
    remove_orphans(base);
    std::string name = base + "/" + kPrefix + std::to_string(::getpid()) + "-XXXXXX";
    require(::mkdtemp(name.data()) != nullptr, "mkdtemp failed in " + base);
    path_ = name;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  static constexpr const char* kPrefix = "vae-fuzz-";

  static void remove_orphans(const std::string& base) {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(base, ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(kPrefix, 0) != 0) continue;
      const long pid = std::strtol(name.c_str() + std::strlen(kPrefix), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        std::filesystem::remove_all(entry.path(), ignored);
      }
    }
  }

  std::string path_;
};

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read back " + path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  require(out.good(), "cannot write " + path);
}

}  // namespace vae_fuzz
