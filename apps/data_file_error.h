// The one exception type of the data readers: what() is a single line that
// starts with the file's name, e.g. "train.npy: truncated: ...".
#ifndef VAE_APPS_DATA_FILE_ERROR_H
#define VAE_APPS_DATA_FILE_ERROR_H

#include <stdexcept>
#include <string>

namespace vae_app {

class DataFileError : public std::runtime_error {
 public:
  DataFileError(const std::string& path, const std::string& problem)
      : std::runtime_error(path + ": " + problem) {}
};

}  // namespace vae_app

#endif  // VAE_APPS_DATA_FILE_ERROR_H
