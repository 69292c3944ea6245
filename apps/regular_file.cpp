#include "regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "data_file_error.h"

namespace vae_app {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

InputFile open_regular_file(const std::string& path, bool missing_ok) {
  // O_NONBLOCK: the open of a FIFO without a writer returns at once, to be
  // refused below, instead of waiting for one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT && missing_ok) return nullptr;
    throw DataFileError(path, std::string("cannot open: ") + std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    const int error = errno;
    const bool stat_failed = info.st_mode == 0;
    ::close(fd);
    if (stat_failed) throw DataFileError(path, std::string("cannot read: ") + std::strerror(error));
    if (S_ISDIR(info.st_mode)) throw DataFileError(path, "is a directory");
    throw DataFileError(path, std::string("is ") + kind_of(info.st_mode) +
                                  ", not a regular file: give a file");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  std::FILE* file = ::fdopen(fd, "rb");
  if (file == nullptr) {
    const int error = errno;
    ::close(fd);
    throw DataFileError(path, std::string("cannot open: ") + std::strerror(error));
  }
  return InputFile(file);
}

}  // namespace vae_app
