// Pictures that stand alone: the built-in font (pixels of rendered text,
// both directions), the choice of tick values and their labels, line plots
// with their numbers, titles and legend on one or two scales, captions, and
// loss.png as libpng reads it back.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bitmap_font.h"
#include "caption.h"
#include "loss_plot.h"
#include "plots.h"

namespace {

using vae_app::Image;
using vae_app::Rgb;

const Rgb kBlack{0, 0, 0};

bool black(const Image& image, int x, int y) {
  const std::size_t at = image.offset(x, y);
  for (int c = 0; c < image.channels; ++c) {
    if (image.pixels[at + static_cast<std::size_t>(c)] != 0) return false;
  }
  return true;
}

// The rows of a rendered glyph as '#' and '.' strings.
std::vector<std::string> rows_of(const Image& image, int x, int y, int width, int height) {
  std::vector<std::string> rows;
  for (int r = 0; r < height; ++r) {
    std::string row;
    for (int c = 0; c < width; ++c) row += black(image, x + c, y + r) ? '#' : '.';
    rows.push_back(row);
  }
  return rows;
}

TEST(AppFont, RendersGlyphsPixelForPixel) {
  Image image(40, 12, 3, 255);
  vae_app::draw_text(image, 1, 2, "1A", kBlack, 1);
  const std::vector<std::string> one{"..#..", ".##..", "..#..", "..#..",
                                     "..#..", "..#..", ".###."};
  const std::vector<std::string> a{".###.", "#...#", "#...#", "#...#",
                                   "#####", "#...#", "#...#"};
  EXPECT_EQ(rows_of(image, 1, 2, 5, 7), one);
  EXPECT_EQ(rows_of(image, 7, 2, 5, 7), a);  // 6 pixels on: 5 of glyph, 1 of space
  // Nothing outside the two glyphs.
  int set = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) set += black(image, x, y);
  }
  EXPECT_EQ(set, 10 + 18);
  EXPECT_EQ(vae_app::text_width("1A", 1), 11);
  EXPECT_EQ(vae_app::text_width("1A", 3), 33);
  EXPECT_EQ(vae_app::text_width("", 2), 0);
}

TEST(AppFont, ScalesDrawsUpwardAndClips) {
  Image big(20, 20, 1, 255);
  vae_app::draw_text(big, 0, 0, "-", kBlack, 2);
  // '-' is row 3 of the glyph: rows 6 and 7 at twice the size, columns 0..9.
  for (int x = 0; x < 10; ++x) {
    EXPECT_TRUE(black(big, x, 6) && black(big, x, 7)) << x;
    EXPECT_FALSE(black(big, x, 5) || black(big, x, 8)) << x;
  }
  Image up(12, 12, 3, 255);
  vae_app::draw_text(up, 2, 10, "-", kBlack, 1, vae_app::TextDirection::kUpward);
  // Upward: glyph row 3 becomes column 2 + 3, glyph columns run up from y = 10.
  for (int along = 0; along < 5; ++along) EXPECT_TRUE(black(up, 5, 10 - along)) << along;
  EXPECT_FALSE(black(up, 4, 10));
  // Text running off the image is cut, not an error.
  Image small(4, 4, 3, 255);
  vae_app::draw_text(small, -3, -2, "WW", kBlack, 2);
  vae_app::draw_text(small, 3, 100, "x", kBlack, 1, vae_app::TextDirection::kUpward);
  // Characters outside printable ASCII are drawn as '?'.
  for (int r = 0; r < vae_app::kGlyphHeight; ++r) {
    for (int c = 0; c < vae_app::kGlyphWidth; ++c) {
      EXPECT_EQ(vae_app::glyph_pixel('\x01', c, r), vae_app::glyph_pixel('?', c, r));
    }
  }
}

TEST(AppPlots, TicksAreRoundNumbers) {
  using vae_app::nice_step;
  EXPECT_DOUBLE_EQ(nice_step(10.0, 5), 2.0);
  EXPECT_DOUBLE_EQ(nice_step(6.0, 6), 1.0);
  EXPECT_DOUBLE_EQ(nice_step(20.0, 6), 5.0);
  EXPECT_DOUBLE_EQ(nice_step(0.7, 6), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(1000.0, 6), 200.0);
  EXPECT_DOUBLE_EQ(nice_step(60.0, 6), 10.0);
  EXPECT_NEAR(nice_step(0.0003, 6), 0.00005, 1e-18);
  EXPECT_DOUBLE_EQ(nice_step(0.0, 6), 1.0);
  // 1, 2 or 5 times a power of ten, at least span / lines, for any span.
  for (double span = 1e-3; span < 1e6; span *= 1.37) {
    const double step = nice_step(span, 6);
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 ||
                std::fabs(mantissa - 5) < 1e-9)
        << span;
    EXPECT_GE(step * 6, span * (1 - 1e-12)) << span;
    EXPECT_LT(step * 6, span * 5.0 + 1e-12) << span;
  }
  EXPECT_EQ(vae_app::tick_values(240, 265, 5), (std::vector<double>{240, 245, 250, 255, 260, 265}));
  EXPECT_EQ(vae_app::tick_label(250.0, 5.0), "250");
  EXPECT_EQ(vae_app::tick_label(-0.0, 5.0), "0");
  EXPECT_EQ(vae_app::tick_label(1e-17, 0.1), "0.0");
  EXPECT_EQ(vae_app::tick_label(0.5, 0.5), "0.5");
  EXPECT_EQ(vae_app::tick_label(-0.05, 0.05), "-0.05");
  EXPECT_EQ(vae_app::tick_label(-3800.0, 200.0), "-3800");
  EXPECT_EQ(vae_app::tick_label(2e8, 5e7), "2e+08");
}

std::vector<vae_app::Curve> loss_curves() {
  const Rgb red{220, 30, 30};
  const Rgb blue{30, 60, 220};
  return {{"train loss", red, {1, 2, 3, 4}, {260.0, 250.5, 245.0, 241.2}, false},
          {"test ELBO", blue, {1, 2, 3, 4}, {-262.0, -252.0, NAN, -243.0}, true}};
}

TEST(AppPlots, DrawsCurvesAxesNumbersAndTitles) {
  vae_app::PlotLabels labels;
  labels.title = "title";
  labels.x_title = "epoch";
  labels.left_title = "loss";
  labels.right_title = "elbo";
  labels.right_negates_left = true;
  const auto curves = loss_curves();
  const vae_app::LinePlot plot = vae_app::plot_curves(curves, labels, 640, 400);
  EXPECT_EQ(plot.image.width, 640);
  EXPECT_EQ(plot.image.height, 400);
  EXPECT_EQ(plot.image.channels, 3);
  EXPECT_LE(plot.axes.x.min, 1.0);
  EXPECT_GE(plot.axes.x.max, 4.0);
  EXPECT_LT(plot.axes.x.step, 1.0);  // 1..4 splits finer than whole numbers by default
  // One scale: the test ELBO negated lies within the left axis, which the
  // right axis mirrors.
  EXPECT_LE(plot.axes.left.min, 241.2);
  EXPECT_GE(plot.axes.left.max, 262.0);
  EXPECT_TRUE(plot.axes.has_right);
  EXPECT_EQ(plot.axes.right.min, -plot.axes.left.max);
  EXPECT_EQ(plot.axes.right.max, -plot.axes.left.min);
  std::size_t red_pixels = 0, blue_pixels = 0, white_pixels = 0, black_pixels = 0;
  for (std::size_t at = 0; at < plot.image.pixels.size(); at += 3) {
    const Rgb pixel{plot.image.pixels[at], plot.image.pixels[at + 1], plot.image.pixels[at + 2]};
    red_pixels += pixel == curves[0].color;
    blue_pixels += pixel == curves[1].color;
    white_pixels += pixel == Rgb{255, 255, 255};
    black_pixels += pixel == kBlack;
  }
  EXPECT_GT(red_pixels, 100u);
  EXPECT_GT(blue_pixels, 50u);
  EXPECT_GT(white_pixels, plot.image.pixels.size() / 3 / 2);
  EXPECT_GT(black_pixels, 2000u);  // axes, ticks and text
  // The title is in the top-left corner: black pixels there.
  std::size_t corner = 0;
  for (int y = 0; y < 30; ++y) {
    for (int x = 0; x < 80; ++x) corner += black(plot.image, x, y);
  }
  EXPECT_GT(corner, 40u);
  EXPECT_EQ(vae_app::plot_curves(curves, labels, 640, 400, 1.0).axes.x.step, 1.0);
  EXPECT_THROW(vae_app::plot_curves({{"bad", curves[0].color, {1, 2}, {1}, false}}, labels, 640,
                                    400),
               std::invalid_argument);
}

TEST(AppPlots, TwoScalesWhenTheSeriesDiffer) {
  vae_app::PlotLabels labels;
  labels.right_title = "elbo";
  auto curves = loss_curves();
  curves[1].y = {-3900, -3850, -3820, -3800};
  const vae_app::LinePlot plot = vae_app::plot_curves(curves, labels, 640, 400);
  EXPECT_LE(plot.axes.left.min, 241.2);
  EXPECT_GE(plot.axes.left.max, 260.0);
  EXPECT_LT(plot.axes.left.max - plot.axes.left.min, 100.0);
  EXPECT_LE(plot.axes.right.min, -3900.0);
  EXPECT_GE(plot.axes.right.max, -3800.0);
  EXPECT_LT(plot.axes.right.max - plot.axes.right.min, 300.0);
}

TEST(AppPlots, CaptionsGoAboveThePicture) {
  Image tiles(60, 30, 1, 128);
  const Image out = vae_app::captioned(tiles, {"abc", "de"});
  EXPECT_EQ(out.channels, 1);
  EXPECT_EQ(out.width, 60);
  const int band = out.height - 30;
  EXPECT_GT(band, 2 * 2 * vae_app::kGlyphHeight);  // two lines at twice the size
  for (int x = 0; x < 60; ++x) EXPECT_EQ(out.pixels[out.offset(x, band + 5)], 128);
  bool text = false;
  for (int y = 0; y < band; ++y) {
    for (int x = 0; x < out.width; ++x) text = text || black(out, x, y);
  }
  EXPECT_TRUE(text);
  // A caption longer than the picture widens it, at the font's own size.
  const Image wide = vae_app::captioned(tiles, {"a caption much longer than sixty pixels"});
  EXPECT_EQ(wide.width, vae_app::text_width("a caption much longer than sixty pixels", 1) + 12);
  EXPECT_EQ(wide.pixels[wide.offset(wide.width - 1, wide.height - 1)], 255);
}

struct PngImageRelease {
  void operator()(png_image* image) const { png_image_free(image); }
};

TEST(AppPlots, LossPngDecodesAtItsSize) {
  const std::filesystem::path dir = ::testing::TempDir();
  const std::string path = (dir / ("vae_loss_" + std::to_string(::getpid()) + ".png")).string();
  std::vector<vae_app::EpochMetrics> rows;
  for (int e = 1; e <= 10; ++e) {
    vae_app::EpochMetrics m;
    m.epoch = e;
    m.train_loss = 240.0 + 40.0 / e;
    m.test_elbo = -(238.0 + 25.0 / e);
    rows.push_back(m);
  }
  vae_app::write_loss_png(rows, "784-400-20 bernoulli, elbo", path);
  png_image read{};
  read.version = PNG_IMAGE_VERSION;
  const std::unique_ptr<png_image, PngImageRelease> release(&read);
  ASSERT_NE(png_image_begin_read_from_file(&read, path.c_str()), 0) << read.message;
  EXPECT_EQ(read.width, static_cast<png_uint_32>(vae_app::kLossPlotWidth));
  EXPECT_EQ(read.height, static_cast<png_uint_32>(vae_app::kLossPlotHeight));
  read.format = PNG_FORMAT_RGB;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(read));
  ASSERT_NE(png_image_finish_read(&read, nullptr, pixels.data(), 0, nullptr), 0) << read.message;
  std::filesystem::remove(path);
}

}  // namespace
