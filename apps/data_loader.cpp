#include "data_loader.h"

#include <utility>

#include "file_contents.h"
#include "idx_reader.h"
#include "npy_reader.h"

namespace vae_app {

DataMatrix read_data_file(const std::string& path) {
  std::vector<std::uint8_t> contents = read_file_contents(path);
  if (has_npy_magic(contents)) return parse_npy(path, std::move(contents));
  return parse_idx(path, std::move(contents));
}

}  // namespace vae_app
