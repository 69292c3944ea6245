#include "caption.h"

#include <algorithm>
#include <cstring>

#include "bitmap_font.h"

namespace vae_app {
namespace {

constexpr int kMargin = 6;       // around the text, in pixels
constexpr int kLineSpacing = 3;  // between lines, in font pixels

}  // namespace

Image captioned(const Image& picture, const std::vector<std::string>& lines) {
  int widest = 0;
  for (const std::string& line : lines) widest = std::max(widest, text_width(line, 1));
  const int scale = 2 * widest + 2 * kMargin <= picture.width ? 2 : 1;
  const int line_height = (kGlyphHeight + kLineSpacing) * scale;
  const int band = lines.empty() ? 0 : 2 * kMargin + static_cast<int>(lines.size()) * line_height -
                                           kLineSpacing * scale;
  const int width = std::max(picture.width, widest * scale + 2 * kMargin);
  Image out(width, picture.height + band, picture.channels, 255);
  const std::size_t row_bytes =
      static_cast<std::size_t>(picture.width) * static_cast<std::size_t>(picture.channels);
  for (int y = 0; y < picture.height; ++y) {
    std::memcpy(out.pixels.data() + out.offset(0, band + y),
                picture.pixels.data() + picture.offset(0, y), row_bytes);
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    draw_text(out, kMargin, kMargin + static_cast<int>(i) * line_height, lines[i], Rgb{0, 0, 0},
              scale);
  }
  return out;
}

}  // namespace vae_app
