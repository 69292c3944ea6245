#include "text_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "data_file_error.h"

namespace vae_app {

void write_text_file(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) {
    throw DataFileError(temporary, std::string("cannot write: ") + std::strerror(errno));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size() &&
                       std::fflush(file) == 0 && fsync(fileno(file)) == 0;
  if (std::fclose(file) != 0 || !written) {
    std::remove(temporary.c_str());
    throw DataFileError(temporary, "cannot write");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    throw DataFileError(path, std::string("cannot write: ") + std::strerror(error));
  }
}

}  // namespace vae_app
