// Writes a small text file whole or not at all: a temporary file beside
// it, flushed to the disk, then renamed over it, so a crash or a failed
// write leaves the old file (or none) and no temporary file behind.
#ifndef VAE_APPS_TEXT_FILE_H
#define VAE_APPS_TEXT_FILE_H

#include <string>

namespace vae_app {

// Throws DataFileError naming the file and the system's reason.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace vae_app

#endif  // VAE_APPS_TEXT_FILE_H
