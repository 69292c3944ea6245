// vae-train's output files: the PNG writer and image tiling, metrics.csv
// (written whole, and trimmed to a checkpoint on resume) and the normal
// quantile. Every file is made here, in a fresh temporary directory.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "app_io_fixture.h"
#include "image_grid.h"
#include "metrics_csv.h"
#include "normal_quantile.h"
#include "png_writer.h"

namespace {

using namespace app_io_test;

struct PngImageRelease {
  void operator()(png_image* image) const { png_image_free(image); }
};

// ---- PNG, tiles -----------------------------------------------------------------

TEST_F(AppIoTest, PngWriterRoundTripsGrayAndRgb) {
  for (const int channels : {1, 3}) {
    vae_app::Image image(13, 7, channels, 0);
    image.pixels = random_bytes(image.pixels.size(), 40u + static_cast<unsigned>(channels));
    const std::string file = path("image" + std::to_string(channels) + ".png");
    vae_app::write_png(file, image);

    png_image read{};
    read.version = PNG_IMAGE_VERSION;
    const std::unique_ptr<png_image, PngImageRelease> release(&read);
    ASSERT_NE(png_image_begin_read_from_file(&read, file.c_str()), 0) << read.message;
    EXPECT_EQ(read.width, 13u);
    EXPECT_EQ(read.height, 7u);
    EXPECT_EQ(read.format, channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB);
    Bytes pixels(PNG_IMAGE_SIZE(read));
    ASSERT_NE(png_image_finish_read(&read, nullptr, pixels.data(), 0, nullptr), 0) << read.message;
    EXPECT_EQ(pixels, image.pixels);
  }
}

TEST_F(AppIoTest, PngWriterReportsFailures) {
  const vae_app::Image image(4, 4, 1, 9);
  const std::string file = path("no/such/dir/x.png");
  try {
    vae_app::write_png(file, image);
    ADD_FAILURE() << "wrote " << file;
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()).rfind(file + ": ", 0), 0u) << error.what();
  }
  vae_app::Image wrong(4, 4, 2, 0);
  EXPECT_THROW(vae_app::write_png(path("x.png"), wrong), std::invalid_argument);
}

TEST(AppImageGrid, TilesSquaresAndStrips) {
  EXPECT_EQ(vae_app::square_side(784), 28);
  EXPECT_EQ(vae_app::square_side(783), 0);
  // Five 2x2 points, two per row: 3 rows of tiles with 2-pixel gaps.
  std::vector<float> values(5 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) / 19.0f;
  const vae_app::Image grid = vae_app::tile_images(values, 5, 4, 2, vae_app::GrayRange{});
  EXPECT_EQ(grid.width, 2 + 2 * (2 + 2));
  EXPECT_EQ(grid.height, 2 + 3 * (2 + 2));
  EXPECT_EQ(grid.channels, 1);
  EXPECT_EQ(grid.pixels[grid.offset(2, 2)], 0);                              // point 0, value 0
  EXPECT_EQ(grid.pixels[grid.offset(7, 3)], std::lround(7 * 255 / 19.0));    // point 1, (1, 1)
  EXPECT_EQ(grid.pixels[grid.offset(2, 10)], std::lround(16 * 255 / 19.0));  // point 4, (0, 0)
  EXPECT_EQ(grid.pixels[grid.offset(0, 0)], 128);                            // gap

  const std::vector<float> strip_values{-1.0f, 0.0f, 3.0f, 1.0f, 1.0f, 1.0f};
  const vae_app::GrayRange fitted = vae_app::fitting_gray_range(strip_values);
  EXPECT_EQ(fitted.low, -1.0f);
  EXPECT_EQ(fitted.high, 3.0f);
  const vae_app::Image strips = vae_app::tile_images(strip_values, 2, 3, 1, fitted);
  EXPECT_EQ(strips.width, 2 + 3 + 2);
  EXPECT_EQ(strips.height, 2 + 2 * (vae_app::kStripHeight + 2));
  for (int y = 2; y < 2 + vae_app::kStripHeight; ++y) {  // every row of a strip repeats the point
    EXPECT_EQ(strips.pixels[strips.offset(2, y)], 0);
    EXPECT_EQ(strips.pixels[strips.offset(3, y)], 64);
    EXPECT_EQ(strips.pixels[strips.offset(4, y)], 255);
  }
  // Values outside the range clamp to black and white.
  const vae_app::Image clamped = vae_app::tile_images({-0.5f, 0.5f, 1.5f, NAN}, 1, 4, 1, {});
  EXPECT_EQ(clamped.pixels[clamped.offset(2, 2)], 0);
  EXPECT_EQ(clamped.pixels[clamped.offset(3, 2)], 128);
  EXPECT_EQ(clamped.pixels[clamped.offset(2, 3)], 255);
  EXPECT_EQ(clamped.pixels[clamped.offset(3, 3)], 0);
  EXPECT_EQ(vae_app::fitting_gray_range(values).high, 1.0f);
  EXPECT_EQ(vae_app::fitting_gray_range({5.0f, 5.0f}).high, 10.0f);
  EXPECT_THROW(vae_app::tile_images(values, 6, 4, 2, {}), std::invalid_argument);
  EXPECT_THROW(vae_app::tile_images(values, 5, 4, 2, {1.0f, 1.0f}), std::invalid_argument);
}

// ---- metrics.csv, normal quantile ---------------------------------------------

// A run stopped after writing epoch 3's row but before its checkpoint: the
// resumed run keeps the rows the checkpoint holds and rewrites the file.
TEST_F(AppIoTest, MetricsPastTheCheckpointAreDroppedOnResume) {
  const std::string file = path("metrics.csv");
  const std::vector<vae_app::EpochMetrics> rows = {{1, 260.5, -255.0, -240.0, 15.0, 1.5},
                                                   {2, 250.5, -249.0, -233.0, 16.0, 1.25},
                                                   {3, 245.5, -246.0, -229.5, 16.5, 1.125}};
  vae_app::write_metrics_csv(file, rows);
  std::size_t dropped = 99;
  const auto kept = vae_app::metrics_for_checkpoint(file, 2, &dropped);
  EXPECT_EQ(dropped, 1u);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].epoch, 2);
  EXPECT_DOUBLE_EQ(kept[1].test_elbo, -249.0);
  EXPECT_EQ(vae_app::read_metrics_csv(file).size(), 2u);  // the file too
  EXPECT_EQ(vae_app::metrics_for_checkpoint(file, 2, &dropped).size(), 2u);
  EXPECT_EQ(dropped, 0u);
  // A file that cannot be replaced keeps its rows and says why.
  EXPECT_THROW(vae_app::write_metrics_csv(path("missing-folder/metrics.csv"), rows),
               std::runtime_error);
}

TEST_F(AppIoTest, MetricsCsvIsWrittenWholeAndReadsBack) {
  const std::string file = path("metrics.csv");
  EXPECT_TRUE(vae_app::read_metrics_csv(file).empty());
  vae_app::write_metrics_csv(file, {{1, 250.25, -251.5, -230.125, 21.375, 3.5}});
  vae_app::write_metrics_csv(file, {{1, 250.25, -251.5, -230.125, 21.375, 3.5},
                                    {2, 240.0, -242.0, -222.0, 20.0, 3.25}});
  EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));
  std::ifstream input(file);
  std::string header;
  std::getline(input, header);
  EXPECT_EQ(header, "epoch,train_loss,test_elbo,test_reconstruction,test_kl,seconds");
  const std::vector<vae_app::EpochMetrics> rows = vae_app::read_metrics_csv(file);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].epoch, 1);
  EXPECT_DOUBLE_EQ(rows[0].train_loss, 250.25);
  EXPECT_DOUBLE_EQ(rows[0].test_elbo, -251.5);
  EXPECT_DOUBLE_EQ(rows[0].test_reconstruction, -230.125);
  EXPECT_DOUBLE_EQ(rows[0].test_kl, 21.375);
  EXPECT_DOUBLE_EQ(rows[0].seconds, 3.5);
  EXPECT_EQ(rows[1].epoch, 2);

  const Reader read_as_data = [](const std::string& name) {
    vae_app::read_metrics_csv(name);
    return DataMatrix{};
  };
  const std::string row = "1,2,3,4,5,6\n";
  const std::string bad_header = "epoch,loss\n" + row;
  const std::string short_row = std::string(vae_app::kMetricsCsvHeader) + "\n1,2,3\n";
  const std::string bad_number = std::string(vae_app::kMetricsCsvHeader) + "\n1,2,x,4,5,6\n";
  expect_refused(read_as_data, write_file("h.csv", Bytes(bad_header.begin(), bad_header.end())),
                 "line 1: expected the header");
  expect_refused(read_as_data, write_file("s.csv", Bytes(short_row.begin(), short_row.end())),
                 "line 2: expected 6 comma-separated fields, found 3");
  expect_refused(read_as_data, write_file("n.csv", Bytes(bad_number.begin(), bad_number.end())),
                 "line 2: field 3 'x' is not a number");
}

TEST(AppNormalQuantile, MatchesKnownValues) {
  EXPECT_NEAR(vae_app::normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(vae_app::normal_quantile(0.975), 1.959963984540054, 1e-8);
  EXPECT_NEAR(vae_app::normal_quantile(0.05), -1.644853626951472, 1e-8);
  EXPECT_NEAR(vae_app::normal_quantile(0.001), -3.090232306167813, 1e-8);
  EXPECT_NEAR(vae_app::normal_quantile(0.95), -vae_app::normal_quantile(0.05), 1e-12);
  EXPECT_THROW(vae_app::normal_quantile(0.0), std::invalid_argument);
  EXPECT_THROW(vae_app::normal_quantile(1.0), std::invalid_argument);
}


}  // namespace
