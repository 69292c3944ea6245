// Pictures of data points: a grid of tiles, one tile per row of values.
#ifndef VAE_APPS_IMAGE_GRID_H
#define VAE_APPS_IMAGE_GRID_H

#include <cstdint>
#include <vector>

#include "image.h"

namespace vae_app {

// Height of the strip that shows a data point whose dim is not a square.
inline constexpr int kStripHeight = 8;
// A strip shows at most this many leading values of a data point.
inline constexpr int kMaxStripWidth = 4096;

// The side of the square picture of a dim-value data point, or 0 when dim is
// not a perfect square (the point is then drawn as a 1-row strip).
int square_side(std::int64_t dim);

// Values from low to high map linearly to black to white; values beyond
// are clamped, non-finite values are black. Needs low < high.
struct GrayRange {
  float low = 0.0f;
  float high = 1.0f;
};

// [0, 1] when every finite value lies there, otherwise the values' [min, max]
// (widened when they are all equal).
GrayRange fitting_gray_range(const std::vector<float>& values);

// Tiles `count` data points of `dim` values (values: count * dim) into a
// grayscale grid `columns` tiles wide, separated by 2-pixel gray lines.
// A point whose dim is a square is a side x side tile; any other point is a
// strip of its values kStripHeight pixels tall.
Image tile_images(const std::vector<float>& values, std::int64_t count, std::int64_t dim,
                  int columns, const GrayRange& range);

}  // namespace vae_app

#endif  // VAE_APPS_IMAGE_GRID_H
