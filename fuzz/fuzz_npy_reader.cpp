// vae-train's .npy reader on arbitrary bytes, read as a file (so gzip input is
// inflated first): it either returns a well-formed matrix or throws
// DataFileError; anything else (a crash, another exception, a leak,
// undefined behaviour) is a finding.
#include <cstddef>
#include <cstdint>

#include "data_file_checks.h"
#include "data_file_error.h"
#include "fuzz_support.h"
#include "npy_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static vae_fuzz::MemoryFile file;
  file.assign(data, size);
  try {
    vae_fuzz::check_accepted_matrix(vae_app::read_npy_file(file.path()));
  } catch (const vae_app::DataFileError&) {
  }
  return 0;
}
