// Opens a data file of either supported format, told apart by its content:
// .npy (magic "\x93NUMPY") or IDX, each raw or gzip-compressed.
#ifndef VAE_APPS_DATA_LOADER_H
#define VAE_APPS_DATA_LOADER_H

#include <string>

#include "data_matrix.h"

namespace vae_app {

// Throws DataFileError naming `path` for anything wrong with the file.
DataMatrix read_data_file(const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_DATA_LOADER_H
