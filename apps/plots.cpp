#include "plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "bitmap_font.h"

namespace vae_app {
namespace {

constexpr int kTextScale = 2;
constexpr int kTextHeight = kGlyphHeight * kTextScale;
constexpr int kPad = 10;       // between the picture's edge and the text
constexpr int kGap = 6;        // between neighbouring pieces of text and lines
constexpr int kTickLength = 5;
constexpr int kLegendLine = 24;  // length of a legend's line sample
// Data points keep this many pixels away from the axes.
constexpr int kInset = 8;
constexpr int kGridLinesWanted = 6;
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGridGray{225, 225, 225};

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

// The range widened to whole grid steps of at least min_step.
AxisScale snap_to_grid(Range range, double min_step) {
  if (range.empty) {
    range = Range{0.0, 1.0, false};
  } else if (range.high - range.low <= 1e-12 * std::max(1.0, std::fabs(range.low))) {
    const double pad = std::max(1.0, std::fabs(range.low) * 0.05);
    range.low -= pad;
    range.high += pad;
  }
  AxisScale s;
  s.step = std::max(min_step, nice_step(range.high - range.low, kGridLinesWanted));
  s.min = std::floor(range.low / s.step) * s.step;
  s.max = std::ceil(range.high / s.step) * s.step;
  return s;
}

class Canvas {
 public:
  explicit Canvas(Image& image) : image_(image) {}

  void put(int x, int y, const Rgb& color) {
    if (!image_.contains(x, y)) return;
    const std::size_t at = image_.offset(x, y);
    std::copy(color.begin(), color.end(), image_.pixels.begin() + static_cast<std::ptrdiff_t>(at));
  }

  // The rectangle between the corners (x0, y0) and (x1, y1), both included.
  void fill_rect(int x0, int y0, int x1, int y1, const Rgb& color) {
    for (int y = std::min(y0, y1); y <= std::max(y0, y1); ++y) {
      for (int x = std::min(x0, x1); x <= std::max(x0, x1); ++x) put(x, y, color);
    }
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

  void text(int x, int y, const std::string& s, TextDirection direction = TextDirection::kRightward) {
    draw_text(image_, x, y, s, kBlack, kTextScale, direction);
  }

 private:
  Image& image_;
};

std::vector<std::string> labels_of(const AxisScale& s, double sign) {
  std::vector<std::string> labels;
  for (double v : tick_values(s.min, s.max, s.step)) labels.push_back(tick_label(sign * v, s.step));
  return labels;
}

int widest(const std::vector<std::string>& texts) {
  int w = 0;
  for (const std::string& t : texts) w = std::max(w, text_width(t, kTextScale));
  return w;
}

}  // namespace

double nice_step(double span, int lines) {
  const double raw = span / std::max(lines, 1);
  if (!(raw > 0.0) || !std::isfinite(raw)) return 1.0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * power >= raw * (1.0 - 1e-12)) return factor * power;
  }
  return 10.0 * power;
}

std::vector<double> tick_values(double low, double high, double step) {
  std::vector<double> ticks;
  if (!(step > 0.0)) return ticks;
  const auto count = static_cast<long long>(std::llround((high - low) / step));
  for (long long i = 0; i <= count; ++i) ticks.push_back(low + static_cast<double>(i) * step);
  return ticks;
}

std::string tick_label(double value, double step) {
  if (std::fabs(value) < 1e-9 * step) value = 0.0;  // no "-0"
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  char text[32];
  if (decimals > 6 || std::fabs(value) >= 1e7) {
    std::snprintf(text, sizeof text, "%.4g", value);
  } else {
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
  }
  return text;
}

LinePlot plot_curves(const std::vector<Curve>& curves, const PlotLabels& labels, int width,
                     int height, double min_x_step) {
  if (width < 200 || height < 150) throw std::invalid_argument("plot_curves: canvas too small");
  Range x_range, left_range, right_range;
  bool has_right = false;
  for (const Curve& curve : curves) {
    if (curve.x.size() != curve.y.size()) {
      throw std::invalid_argument("plot_curves: curve '" + curve.name + "' has " +
                                  std::to_string(curve.x.size()) + " x values and " +
                                  std::to_string(curve.y.size()) + " y values");
    }
    has_right = has_right || curve.right_axis;
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      if (!std::isfinite(curve.x[i]) || !std::isfinite(curve.y[i])) continue;
      x_range.include(curve.x[i]);
      if (curve.bars) {
        x_range.include(curve.x[i] - curve.bar_width / 2);
        x_range.include(curve.x[i] + curve.bar_width / 2);
        (curve.right_axis ? right_range : left_range).include(0.0);
      }
      if (!curve.right_axis) {
        left_range.include(curve.y[i]);
      } else if (labels.right_negates_left) {
        left_range.include(-curve.y[i]);
      } else {
        right_range.include(curve.y[i]);
      }
    }
  }
  LinePlot plot;
  PlotAxes& axes = plot.axes;
  axes.x = snap_to_grid(x_range, min_x_step);
  axes.left = snap_to_grid(left_range, 0.0);
  axes.has_right = has_right;
  if (has_right) {
    axes.right = labels.right_negates_left
                     ? AxisScale{-axes.left.max, -axes.left.min, axes.left.step}
                     : snap_to_grid(right_range, 0.0);
  }

  // The margins hold the numbers and titles.
  const std::vector<std::string> left_labels = labels_of(axes.left, 1.0);
  const std::vector<std::string> right_labels =
      has_right ? labels_of(labels.right_negates_left ? axes.left : axes.right,
                            labels.right_negates_left ? -1.0 : 1.0)
                : std::vector<std::string>{};
  const int left = kPad + kTextHeight + kGap + widest(left_labels) + kGap + kTickLength;
  const int right = width - (has_right ? kTickLength + kGap + widest(right_labels) + kGap +
                                             kTextHeight + kPad
                                       : 3 * kPad);
  const int top = kPad + kTextHeight + kGap + kTextHeight + 2 * kGap;
  const int bottom = height - (kTickLength + kGap + kTextHeight + kGap + kTextHeight + kPad);

  plot.image = Image(width, height, 3, 255);  // white
  Canvas canvas(plot.image);
  const auto to_x = [&](double x) {
    return left + kInset +
           static_cast<int>(std::lround((x - axes.x.min) / (axes.x.max - axes.x.min) *
                                        (right - left - 2 * kInset)));
  };
  const auto to_y = [&](double y, const AxisScale& s) {
    return bottom - kInset -
           static_cast<int>(std::lround((y - s.min) / (s.max - s.min) * (bottom - top - 2 * kInset)));
  };

  // Grid, ticks and numbers.
  for (double v : tick_values(axes.x.min, axes.x.max, axes.x.step)) {
    const int x = to_x(v);
    canvas.line(x, top, x, bottom, 1, kGridGray);
    canvas.line(x, bottom, x, bottom + kTickLength, 1, kBlack);
    const std::string label = tick_label(v, axes.x.step);
    canvas.text(x - text_width(label, kTextScale) / 2, bottom + kTickLength + kGap, label);
  }
  const std::vector<double> left_ticks = tick_values(axes.left.min, axes.left.max, axes.left.step);
  for (std::size_t i = 0; i < left_ticks.size(); ++i) {
    const int y = to_y(left_ticks[i], axes.left);
    canvas.line(left, y, right, y, 1, kGridGray);
    canvas.line(left - kTickLength, y, left, y, 1, kBlack);
    canvas.text(left - kTickLength - kGap - text_width(left_labels[i], kTextScale),
                y - kTextHeight / 2, left_labels[i]);
    if (has_right && labels.right_negates_left) {
      canvas.line(right, y, right + kTickLength, y, 1, kBlack);
      canvas.text(right + kTickLength + kGap, y - kTextHeight / 2, right_labels[i]);
    }
  }
  if (has_right && !labels.right_negates_left) {
    const std::vector<double> ticks = tick_values(axes.right.min, axes.right.max, axes.right.step);
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      const int y = to_y(ticks[i], axes.right);
      canvas.line(right, y, right + kTickLength, y, 1, kBlack);
      canvas.text(right + kTickLength + kGap, y - kTextHeight / 2, right_labels[i]);
    }
  }
  canvas.line(left, top, left, bottom, 1, kBlack);
  canvas.line(left, bottom, right, bottom, 1, kBlack);
  if (has_right) canvas.line(right, top, right, bottom, 1, kBlack);

  // Titles: the axes', the picture's in the top-left corner, the legend under it.
  canvas.text((left + right - text_width(labels.x_title, kTextScale)) / 2,
              height - kPad - kTextHeight, labels.x_title);
  canvas.text(kPad, (top + bottom + text_width(labels.left_title, kTextScale)) / 2,
              labels.left_title, TextDirection::kUpward);
  if (has_right) {
    canvas.text(width - kPad - kTextHeight,
                (top + bottom + text_width(labels.right_title, kTextScale)) / 2,
                labels.right_title, TextDirection::kUpward);
  }
  canvas.text(kPad, kPad, labels.title);
  int legend_x = left;
  const int legend_y = kPad + kTextHeight + kGap;
  for (const Curve& curve : curves) {
    const int middle = legend_y + kTextHeight / 2;
    if (curve.bars) {
      canvas.fill_rect(legend_x + kLegendLine / 4, middle - kTextHeight / 3,
                       legend_x + 3 * kLegendLine / 4, middle + kTextHeight / 3, curve.color);
    } else {
      canvas.line(legend_x, middle, legend_x + kLegendLine, middle, 2, curve.color);
      canvas.fill_square(legend_x + kLegendLine / 2, middle, 2, curve.color);
    }
    canvas.text(legend_x + kLegendLine + kGap, legend_y, curve.name);
    legend_x += kLegendLine + kGap + text_width(curve.name, kTextScale) + 4 * kGap;
  }

  // The curves.
  for (const Curve& curve : curves) {
    const bool mirrored = curve.right_axis && labels.right_negates_left;
    const AxisScale& scale = curve.right_axis && !mirrored ? axes.right : axes.left;
    bool have_previous = false;
    int previous_x = 0;
    int previous_y = 0;
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      if (!std::isfinite(curve.x[i]) || !std::isfinite(curve.y[i])) {
        have_previous = false;
        continue;
      }
      const int x = to_x(curve.x[i]);
      const int y = to_y(mirrored ? -curve.y[i] : curve.y[i], scale);
      if (curve.bars) {
        canvas.fill_rect(to_x(curve.x[i] - curve.bar_width / 2), to_y(0.0, scale),
                         to_x(curve.x[i] + curve.bar_width / 2), y, curve.color);
        continue;
      }
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
