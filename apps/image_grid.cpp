#include "image_grid.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vae_app {
namespace {

constexpr int kGap = 2;
constexpr std::uint8_t kGapGray = 128;

std::uint8_t gray_level(float value, const GrayRange& range) {
  if (!std::isfinite(value)) return 0;
  const float unit = std::clamp((value - range.low) / (range.high - range.low), 0.0f, 1.0f);
  return static_cast<std::uint8_t>(std::lround(unit * 255.0f));
}

}  // namespace

GrayRange fitting_gray_range(const std::vector<float>& values) {
  float low = 0.0f;
  float high = 1.0f;
  bool seen = false;
  for (const float value : values) {
    if (!std::isfinite(value)) continue;
    low = seen ? std::min(low, value) : value;
    high = seen ? std::max(high, value) : value;
    seen = true;
  }
  if (!seen || (low >= 0.0f && high <= 1.0f)) return GrayRange{};
  if (high - low < 1e-6f * std::max(1.0f, std::fabs(low)))
    return GrayRange{low, low + std::max(1.0f, std::fabs(low))};
  return GrayRange{low, high};
}

int square_side(std::int64_t dim) {
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(dim))));
  return side * side == dim ? static_cast<int>(side) : 0;
}

Image tile_images(const std::vector<float>& values, std::int64_t count, std::int64_t dim,
                  int columns, const GrayRange& range) {
  if (count < 1 || dim < 1 || columns < 1 || !(range.low < range.high) ||
      values.size() != static_cast<std::size_t>(count * dim)) {
    throw std::invalid_argument("tile_images: " + std::to_string(values.size()) + " values as " +
                                std::to_string(count) + " rows of " + std::to_string(dim) + " in " +
                                std::to_string(columns) + " columns, gray range [" +
                                std::to_string(range.low) + ", " + std::to_string(range.high) +
                                "]");
  }
  const int side = square_side(dim);
  const int tile_width =
      side > 0 ? side : static_cast<int>(std::min<std::int64_t>(dim, kMaxStripWidth));
  const int tile_height = side > 0 ? side : kStripHeight;
  const int grid_columns = static_cast<int>(std::min<std::int64_t>(columns, count));
  const int grid_rows = static_cast<int>((count + grid_columns - 1) / grid_columns);
  Image image(kGap + grid_columns * (tile_width + kGap), kGap + grid_rows * (tile_height + kGap), 1,
              kGapGray);
  for (std::int64_t tile = 0; tile < count; ++tile) {
    const int left = kGap + static_cast<int>(tile % grid_columns) * (tile_width + kGap);
    const int top = kGap + static_cast<int>(tile / grid_columns) * (tile_height + kGap);
    const float* row = values.data() + tile * dim;
    for (int y = 0; y < tile_height; ++y) {
      const float* source = side > 0 ? row + static_cast<std::ptrdiff_t>(y) * side : row;
      for (int x = 0; x < tile_width; ++x) {
        image.pixels[image.offset(left + x, top + y)] = gray_level(source[x], range);
      }
    }
  }
  return image;
}

}  // namespace vae_app
