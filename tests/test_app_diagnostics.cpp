// vae-train's closing diagnostics as data (apps/diagnostics.h): the mean
// and its standard error, the rows the gap is computed on, the table,
// diagnostics.json as a JSON reader sees it, and latent_usage.png's bars
// as libpng reads them back; and bars in the line plots.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagnostics.h"
#include "plots.h"

namespace {

using vae_app::Diagnostics;
using vae_app::Rgb;

TEST(AppDiagnostics, MeanWithErrorIsTheSampleStandardDeviationOverRootN) {
  const vae_app::MeanWithError m = vae_app::mean_with_error({1.0, 2.0, 3.0, 4.0, 10.0});
  EXPECT_DOUBLE_EQ(m.mean, 4.0);
  // Sample variance: (9 + 4 + 1 + 0 + 36) / 4 = 12.5.
  EXPECT_DOUBLE_EQ(m.std_error, std::sqrt(12.5 / 5.0));
  EXPECT_EQ(vae_app::mean_with_error({-3.5}).std_error, 0.0);
  EXPECT_EQ(vae_app::mean_with_error({-3.5}).mean, -3.5);
}

TEST(AppDiagnostics, RowsAreTransformedOnceAsTheModelReadsThem) {
  vae_app::DataMatrix bytes;
  bytes.rows = 3;
  bytes.dim = 4000;
  bytes.bytes.resize(12000);
  for (std::size_t e = 0; e < bytes.bytes.size(); ++e) bytes.bytes[e] = static_cast<uint8_t>(e * 7 % 256);
  const auto scaled = vae_app::transformed_rows(bytes, 2, 0, 5);
  ASSERT_EQ(scaled.size(), 8000u);
  EXPECT_FLOAT_EQ(scaled[3], static_cast<float>(21 / 255.0));
  const auto binary = vae_app::transformed_rows(bytes, 3, 1, 5);
  EXPECT_EQ(binary, vae_app::transformed_rows(bytes, 3, 1, 5));  // seeded
  EXPECT_NE(binary, vae_app::transformed_rows(bytes, 3, 1, 6));
  double ones = 0, expected = 0;
  for (std::size_t e = 0; e < binary.size(); ++e) {
    ASSERT_TRUE(binary[e] == 0.0f || binary[e] == 1.0f);
    ones += binary[e];
    expected += bytes.bytes[e] / 255.0;
  }
  // Bernoulli(y / 255): the count within 4 standard deviations (< 55 here).
  EXPECT_NEAR(ones, expected, 4 * std::sqrt(12000 * 0.25));
  const auto dequantized = vae_app::transformed_rows(bytes, 3, 2, 5);
  for (std::size_t e = 0; e < dequantized.size(); ++e) {
    ASSERT_GE(dequantized[e], bytes.bytes[e] / 256.0f);
    ASSERT_LT(dequantized[e], (bytes.bytes[e] + 1) / 256.0f);
  }
  vae_app::DataMatrix floats;
  floats.type = vae_app::ElementType::float32;
  floats.rows = 2;
  floats.dim = 2;
  floats.floats = {0.25f, -3.0f, 7.5f, 1e-3f};
  EXPECT_EQ(vae_app::transformed_rows(floats, 1, 1, 5), (std::vector<float>{0.25f, -3.0f}));
  EXPECT_THROW(vae_app::transformed_rows(floats, 3, 0, 5), std::out_of_range);
}

Diagnostics example(bool gap) {
  Diagnostics d;
  d.kl = {0.5, 3.0, 0.001};
  d.activity = {0.2, 1.5, 0.0005};
  d.active_units = 2;
  d.kl_total = 3.501;
  d.mutual_information = 2.25;
  d.mutual_information_std_error = 0.01;
  d.marginal_kl = 1.251;
  d.has_log_px = true;
  d.log_px = {-90.5, 0.02, 312.5, 10000, 1000};
  d.has_gap = gap;
  d.gap.rows = 100;
  d.gap.k = 1000;
  d.gap.steps = 100;
  d.gap.log_px = {-90.0, 2.0};
  d.gap.elbo_refined = {-91.0, 2.1};
  d.gap.elbo_encoder = {-93.0, 2.2};
  d.gap.approximation = {1.0, 0.1};
  d.gap.amortization = {2.0, 0.2};
  return d;
}

TEST(AppDiagnostics, JsonHoldsEveryFigure) {
  const nlohmann::json j = nlohmann::json::parse(vae_app::diagnostics_json(example(true)));
  EXPECT_EQ(j["log_px"]["mean"], -90.5);
  EXPECT_EQ(j["log_px"]["mean_ess"], 312.5);
  EXPECT_EQ(j["log_px"]["k"], 1000);
  const auto& usage = j["latent_usage"];
  EXPECT_EQ(usage["kl"], (std::vector<double>{0.5, 3.0, 0.001}));
  EXPECT_EQ(usage["active"], (std::vector<bool>{true, true, false}));
  EXPECT_EQ(usage["active_units"], 2);
  EXPECT_EQ(usage["mutual_information"], 2.25);
  EXPECT_EQ(usage["marginal_kl"], 1.251);
  const auto& gap = j["inference_gap"];
  EXPECT_EQ(gap["rows"], 100);
  EXPECT_EQ(gap["approximation_gap"]["mean"], 1.0);
  EXPECT_EQ(gap["amortization_gap"]["std_error"], 0.2);
  EXPECT_FALSE(nlohmann::json::parse(vae_app::diagnostics_json(example(false)))
                   .contains("inference_gap"));
}

TEST(AppDiagnostics, TableNamesEachFigure) {
  const std::string t = vae_app::diagnostics_table(example(true));
  EXPECT_NE(t.find("active units                2 of 3"), std::string::npos) << t;
  EXPECT_NE(t.find("per latent (sorted): 3.00 0.50 0.00"), std::string::npos) << t;
  EXPECT_NE(t.find("mean ESS 312.5 of K=1000, 10000 rows"), std::string::npos) << t;
  EXPECT_NE(t.find("approximation gap      1.00 nats  (0.100)"), std::string::npos) << t;
  EXPECT_NE(t.find("amortization gap       2.00 nats  (0.200)"), std::string::npos) << t;
  EXPECT_EQ(vae_app::diagnostics_table(example(false)).find("gap"), std::string::npos);
}

struct PngImageRelease {
  void operator()(png_image* image) const { png_image_free(image); }
};

TEST(AppDiagnostics, LatentUsagePngShowsActiveAndInactiveBars) {
  const std::filesystem::path dir = ::testing::TempDir();
  const std::string path = (dir / ("vae_usage_" + std::to_string(::getpid()) + ".png")).string();
  Diagnostics d = example(false);
  d.kl[2] = 0.4;  // tall enough to see: an inactive latent with some KL
  vae_app::write_latent_usage_png(d, "784-400-3 bernoulli, elbo", path);
  png_image read{};
  read.version = PNG_IMAGE_VERSION;
  const std::unique_ptr<png_image, PngImageRelease> release(&read);
  ASSERT_NE(png_image_begin_read_from_file(&read, path.c_str()), 0) << read.message;
  read.format = PNG_FORMAT_RGB;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(read));
  ASSERT_NE(png_image_finish_read(&read, nullptr, pixels.data(), 0, nullptr), 0) << read.message;
  std::filesystem::remove(path);
  std::size_t blue = 0, gray = 0;
  for (std::size_t at = 0; at + 2 < pixels.size(); at += 3) {
    const Rgb pixel{pixels[at], pixels[at + 1], pixels[at + 2]};
    blue += pixel == Rgb{31, 119, 180};
    gray += pixel == Rgb{190, 190, 190};
  }
  // Two active bars, the taller about 6 times the other, and one inactive;
  // bars are areas, not lines.
  EXPECT_GT(blue, 20000u);
  EXPECT_GT(gray, 2000u);
  EXPECT_LT(gray, blue / 3);
}

TEST(AppPlots, BarsRunFromZeroToTheirValue) {
  vae_app::Curve bars{"bars", Rgb{200, 0, 0}, {1.0, 2.0}, {4.0, 2.0}};
  bars.bars = true;
  vae_app::PlotLabels labels;
  const vae_app::LinePlot plot = vae_app::plot_curves({bars}, labels, 400, 300, 1.0);
  EXPECT_EQ(plot.axes.left.min, 0.0);  // the axis reaches 0
  EXPECT_LE(plot.axes.x.min, 0.6);
  EXPECT_GE(plot.axes.x.max, 2.4);
  // Each column of a bar is red from its top to the axis (counted below the
  // legend, whose square is red too): the first bar's columns are twice the
  // second's.
  int tallest = 0, shortest = plot.image.height;
  for (int x = 0; x < plot.image.width; ++x) {
    int red = 0;
    for (int y = 60; y < plot.image.height; ++y) {
      const std::size_t at = plot.image.offset(x, y);
      red += Rgb{plot.image.pixels[at], plot.image.pixels[at + 1], plot.image.pixels[at + 2]} ==
             Rgb{200, 0, 0};
    }
    if (red == 0) continue;
    tallest = std::max(tallest, red);
    shortest = std::min(shortest, red);
  }
  EXPECT_GT(tallest, 100);
  EXPECT_NEAR(static_cast<double>(tallest) / shortest, 2.0, 0.1);
}

}  // namespace
