// Opening vae-train's input files (--data, the test set, metrics.csv on
// --resume): regular files only. A FIFO would block the open, and then its
// reads, for as long as no writer comes; a device such as /dev/zero never
// ends. Both are refused at once, naming the file.
#ifndef VAE_APPS_REGULAR_FILE_H
#define VAE_APPS_REGULAR_FILE_H

#include <cstdio>
#include <memory>
#include <string>

namespace vae_app {

struct InputFileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using InputFile = std::unique_ptr<std::FILE, InputFileCloser>;

// path opened for reading, in binary. Throws DataFileError naming the file
// when it cannot be opened or is not a regular file; returns null instead
// when it does not exist and missing_ok is set.
InputFile open_regular_file(const std::string& path, bool missing_ok = false);

}  // namespace vae_app

#endif  // VAE_APPS_REGULAR_FILE_H
