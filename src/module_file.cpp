#include "module_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace vae {
namespace {

// This process's ELF class and machine.
constexpr unsigned char kOwnClass = sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32;
#if defined(__x86_64__)
constexpr int kOwnMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kOwnMachine = EM_AARCH64;
#elif defined(__powerpc64__)
constexpr int kOwnMachine = EM_PPC64;
#else
constexpr int kOwnMachine = -1;  // not checked
#endif

std::string machine_name(int machine) {
  switch (machine) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "x86";
    case EM_AARCH64: return "AArch64";
    case EM_ARM: return "ARM";
    case EM_PPC64: return "PowerPC 64";
    case EM_RISCV: return "RISC-V";
    default: return "machine " + std::to_string(machine);
  }
}

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "a device";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string module_file_problem(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return "";  // dlopen says why
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return "";
  if (!S_ISREG(info.st_mode)) return "is " + kind_of(info.st_mode) + ", not a regular file";
  unsigned char ident[EI_NIDENT + 4] = {};
  ssize_t got = 0;
  do {
    got = ::read(fd.get(), ident, sizeof ident);
  } while (got < 0 && errno == EINTR);
  if (got < static_cast<ssize_t>(sizeof ident) || ident[EI_MAG0] != ELFMAG0 ||
      ident[EI_MAG1] != ELFMAG1 || ident[EI_MAG2] != ELFMAG2 || ident[EI_MAG3] != ELFMAG3) {
    return "";  // not ELF: dlopen says so
  }
  // e_machine follows e_ident and e_type, in the file's byte order.
  const unsigned char* m = ident + EI_NIDENT + 2;
  const int machine = ident[EI_DATA] == ELFDATA2MSB ? (m[0] << 8) | m[1] : m[0] | (m[1] << 8);
  const bool other_class = ident[EI_CLASS] != kOwnClass;
  const bool other_machine = kOwnMachine >= 0 && machine != kOwnMachine;
  if (!other_class && !other_machine) return "";
  const auto bits = [](unsigned char c) { return c == ELFCLASS64 ? "64-bit" : "32-bit"; };
  return "is an ELF object for another architecture (" + std::string(bits(ident[EI_CLASS])) +
         " " + machine_name(machine) + "; this process is " + bits(kOwnClass) + " " +
         (kOwnMachine >= 0 ? machine_name(kOwnMachine) : std::string("another")) + ")";
}

}  // namespace vae
