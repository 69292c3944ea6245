// An 8-bit image in memory: grayscale (1 channel) or RGB (3 channels),
// rows top to bottom, pixels left to right, channels interleaved.
#ifndef VAE_APPS_IMAGE_H
#define VAE_APPS_IMAGE_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vae_app {

using Rgb = std::array<std::uint8_t, 3>;

struct Image {
  int width = 0;
  int height = 0;
  int channels = 1;
  std::vector<std::uint8_t> pixels;  // height * width * channels

  Image() = default;
  Image(int image_width, int image_height, int image_channels, std::uint8_t fill)
      : width(image_width),
        height(image_height),
        channels(image_channels),
        pixels(static_cast<std::size_t>(image_width) * static_cast<std::size_t>(image_height) *
                   static_cast<std::size_t>(image_channels),
               fill) {}

  std::size_t offset(int x, int y) const {
    return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
            static_cast<std::size_t>(x)) *
           static_cast<std::size_t>(channels);
  }
  bool contains(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height; }
};

}  // namespace vae_app

#endif  // VAE_APPS_IMAGE_H
