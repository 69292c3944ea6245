// Writes an Image as an 8-bit grayscale or RGB PNG file through libpng.
#ifndef VAE_APPS_PNG_WRITER_H
#define VAE_APPS_PNG_WRITER_H

#include <string>

#include "image.h"

namespace vae_app {

// Throws std::invalid_argument for an image whose size or channel count is
// wrong and std::runtime_error("PATH: ...") when the file cannot be written.
void write_png(const std::string& path, const Image& image);

}  // namespace vae_app

#endif  // VAE_APPS_PNG_WRITER_H
