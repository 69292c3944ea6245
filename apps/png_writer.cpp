#include "png_writer.h"

#include <png.h>

#include <memory>
#include <stdexcept>

namespace vae_app {
namespace {

// Releases what libpng keeps in a png_image's opaque part.
struct PngImageRelease {
  void operator()(png_image* image) const { png_image_free(image); }
};

}  // namespace

void write_png(const std::string& path, const Image& image) {
  if (image.width < 1 || image.height < 1 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != image.offset(0, image.height)) {
    throw std::invalid_argument("write_png: image of " + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + "x" +
                                std::to_string(image.channels) + " with " +
                                std::to_string(image.pixels.size()) + " bytes");
  }
  png_image description{};
  description.version = PNG_IMAGE_VERSION;
  description.width = static_cast<png_uint_32>(image.width);
  description.height = static_cast<png_uint_32>(image.height);
  description.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  const std::unique_ptr<png_image, PngImageRelease> release(&description);
  if (png_image_write_to_file(&description, path.c_str(), 0, image.pixels.data(), 0, nullptr) ==
      0) {
    throw std::runtime_error(path + ": cannot write PNG: " + description.message);
  }
}

}  // namespace vae_app
