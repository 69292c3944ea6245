#include "plots.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace vae_app {
namespace {

constexpr int kMarginLeft = 48;
constexpr int kMarginRight = 16;
constexpr int kMarginTop = 16;
constexpr int kMarginBottom = 40;
constexpr int kTickLength = 5;
// Data points keep this many pixels away from the axes.
constexpr int kInset = 8;
constexpr int kGridLinesWanted = 6;
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGridGray{220, 220, 220};

// The step of 1, 2 or 5 times a power of ten nearest above span / lines.
double round_step(double span, int lines) {
  const double raw = span / lines;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * power >= raw) return factor * power;
  }
  return 10.0 * power;
}

struct Range {
  double low = 0.0;
  double high = 0.0;
  bool empty = true;

  void include(double value) {
    low = empty ? value : std::min(low, value);
    high = empty ? value : std::max(high, value);
    empty = false;
  }
};

// Widens [low, high] to whole grid steps of at least min_step; returns the step.
double snap_to_grid(Range& range, double min_step) {
  if (range.empty) {
    range = Range{0.0, 1.0, false};
  } else if (range.high - range.low <= 1e-12 * std::max(1.0, std::fabs(range.low))) {
    const double pad = std::max(1.0, std::fabs(range.low) * 0.05);
    range.low -= pad;
    range.high += pad;
  }
  const double step = std::max(min_step, round_step(range.high - range.low, kGridLinesWanted));
  range.low = std::floor(range.low / step) * step;
  range.high = std::ceil(range.high / step) * step;
  return step;
}

class Canvas {
 public:
  explicit Canvas(Image& image) : image_(image) {}

  void put(int x, int y, const Rgb& color) {
    if (!image_.contains(x, y)) return;
    const std::size_t at = image_.offset(x, y);
    std::copy(color.begin(), color.end(), image_.pixels.begin() + static_cast<std::ptrdiff_t>(at));
  }

  void fill_square(int center_x, int center_y, int radius, const Rgb& color) {
    for (int dy = -radius; dy <= radius; ++dy) {
      for (int dx = -radius; dx <= radius; ++dx) put(center_x + dx, center_y + dy, color);
    }
  }

  // Bresenham's line, `thickness` pixels wide.
  void line(int x0, int y0, int x1, int y1, int thickness, const Rgb& color) {
    const int dx = std::abs(x1 - x0);
    const int dy = -std::abs(y1 - y0);
    const int step_x = x0 < x1 ? 1 : -1;
    const int step_y = y0 < y1 ? 1 : -1;
    int error = dx + dy;
    for (;;) {
      for (int t = 0; t < thickness; ++t) {
        for (int u = 0; u < thickness; ++u) put(x0 + t, y0 + u, color);
      }
      if (x0 == x1 && y0 == y1) return;
      const int doubled = 2 * error;
      if (doubled >= dy) {
        error += dy;
        x0 += step_x;
      }
      if (doubled <= dx) {
        error += dx;
        y0 += step_y;
      }
    }
  }

 private:
  Image& image_;
};

}  // namespace

LinePlot plot_curves(const std::vector<Curve>& curves, int width, int height, double min_x_step) {
  if (width < 64 || height < 64) throw std::invalid_argument("plot_curves: canvas too small");
  Range x_range;
  Range y_range;
  for (const Curve& curve : curves) {
    if (curve.x.size() != curve.y.size()) {
      throw std::invalid_argument("plot_curves: curve '" + curve.name + "' has " +
                                  std::to_string(curve.x.size()) + " x values and " +
                                  std::to_string(curve.y.size()) + " y values");
    }
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      if (std::isfinite(curve.x[i]) && std::isfinite(curve.y[i])) {
        x_range.include(curve.x[i]);
        y_range.include(curve.y[i]);
      }
    }
  }
  LinePlot plot;
  plot.axes.x_step = snap_to_grid(x_range, min_x_step);
  plot.axes.y_step = snap_to_grid(y_range, 0.0);
  plot.axes.x_min = x_range.low;
  plot.axes.x_max = x_range.high;
  plot.axes.y_min = y_range.low;
  plot.axes.y_max = y_range.high;

  plot.image = Image(width, height, 3, 255);  // white
  Canvas canvas(plot.image);
  const int left = kMarginLeft;
  const int right = width - kMarginRight;
  const int top = kMarginTop;
  const int bottom = height - kMarginBottom;
  const auto to_x = [&](double x) {
    return left + kInset +
           static_cast<int>(std::lround((x - x_range.low) / (x_range.high - x_range.low) *
                                        (right - left - 2 * kInset)));
  };
  const auto to_y = [&](double y) {
    return bottom - kInset -
           static_cast<int>(std::lround((y - y_range.low) / (y_range.high - y_range.low) *
                                        (bottom - top - 2 * kInset)));
  };

  const double x_lines = std::round((x_range.high - x_range.low) / plot.axes.x_step);
  for (int i = 0; i <= static_cast<int>(x_lines); ++i) {
    const int x = to_x(x_range.low + i * plot.axes.x_step);
    canvas.line(x, top, x, bottom, 1, kGridGray);
    canvas.line(x, bottom, x, bottom + kTickLength, 1, kBlack);
  }
  const double y_lines = std::round((y_range.high - y_range.low) / plot.axes.y_step);
  for (int i = 0; i <= static_cast<int>(y_lines); ++i) {
    const int y = to_y(y_range.low + i * plot.axes.y_step);
    canvas.line(left, y, right, y, 1, kGridGray);
    canvas.line(left - kTickLength, y, left, y, 1, kBlack);
  }
  canvas.line(left, top, left, bottom, 1, kBlack);
  canvas.line(left, bottom, right, bottom, 1, kBlack);

  for (const Curve& curve : curves) {
    bool have_previous = false;
    int previous_x = 0;
    int previous_y = 0;
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      if (!std::isfinite(curve.x[i]) || !std::isfinite(curve.y[i])) {
        have_previous = false;
        continue;
      }
      const int x = to_x(curve.x[i]);
      const int y = to_y(curve.y[i]);
      if (have_previous) canvas.line(previous_x, previous_y, x, y, 2, curve.color);
      canvas.fill_square(x, y, 2, curve.color);
      have_previous = true;
      previous_x = x;
      previous_y = y;
    }
  }
  return plot;
}

}  // namespace vae_app
