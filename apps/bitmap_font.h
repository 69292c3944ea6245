// Text in pictures: a 5x7 pixel font of printable ASCII, drawn at whole
// multiples of its size. Built in (one table of glyphs), so the pictures
// need no font library and no font file, and look the same everywhere.
#ifndef VAE_APPS_BITMAP_FONT_H
#define VAE_APPS_BITMAP_FONT_H

#include <string>

#include "image.h"

namespace vae_app {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 7;
inline constexpr int kGlyphAdvance = 6;  // a column of space between glyphs

// Whether pixel (column, row) of c's glyph is set (row 0 at the top).
// Characters outside 32..126 are drawn as '?'.
bool glyph_pixel(char c, int column, int row);

// Pixels from the first glyph's left edge to the last one's right edge.
int text_width(const std::string& text, int scale);

enum class TextDirection { kRightward, kUpward };

// Draws text with its first glyph's top-left corner at (x, y), each font
// pixel a scale x scale square of `color` (grayscale images take its first
// channel); pixels outside the image are left out. Upward text (an axis
// title beside a vertical axis) starts at (x, y) and runs up the image,
// the tops of its glyphs to the left, so that it reads bottom to top.
void draw_text(Image& image, int x, int y, const std::string& text, const Rgb& color, int scale,
               TextDirection direction = TextDirection::kRightward);

}  // namespace vae_app

#endif  // VAE_APPS_BITMAP_FONT_H
