// Line plots drawn into an RGB Image: polylines with point markers (or bars) on a
// white canvas, grid lines at round values, the axes' numbers and titles, a
// title in the top-left corner and a legend under it (text in the built-in
// bitmap font). Curves go against the left axis or a right one, which has a
// scale of its own or shows the left one negated.
#ifndef VAE_APPS_PLOTS_H
#define VAE_APPS_PLOTS_H

#include <string>
#include <vector>

#include "image.h"

namespace vae_app {

struct Curve {
  std::string name;  // the legend's text
  Rgb color{};
  std::vector<double> x;
  std::vector<double> y;  // same length as x; non-finite points are left out
  bool right_axis = false;  // drawn against the right axis
  // Drawn as bars from 0 to each y, `bar_width` x units wide and centred on
  // their x (the axis then reaches 0), instead of a line through markers.
  bool bars = false;
  double bar_width = 0.8;
};

struct PlotLabels {
  std::string title;        // the top-left corner: what the picture shows
  std::string x_title;
  std::string left_title;
  std::string right_title;  // the right axis's title (there is one when a curve uses it)
  // The right axis shows the left one's scale negated (a right-axis value v
  // is drawn where the left axis reads -v), so that curves of opposite sign
  // and equal size overlay; otherwise it has a scale of its own.
  bool right_negates_left = false;
};

// The values an axis spans and the spacing of its ticks.
struct AxisScale {
  double min = 0.0;
  double max = 1.0;
  double step = 1.0;
};

struct PlotAxes {
  AxisScale x;
  AxisScale left;
  AxisScale right;  // as drawn: the negated left scale when right_negates_left
  bool has_right = false;
};

struct LinePlot {
  Image image;
  PlotAxes axes;
};

// Vertical grid lines lie at least min_x_step apart (1 for epoch numbers).
// Throws std::invalid_argument when a curve's x and y differ in length or
// the canvas is smaller than 200 x 150.
LinePlot plot_curves(const std::vector<Curve>& curves, const PlotLabels& labels, int width,
                     int height, double min_x_step = 0.0);

// The tick spacing for `span` cut into about `lines` parts: the smallest of
// 1, 2 or 5 times a power of ten that is at least span / lines.
double nice_step(double span, int lines);
// The multiples of step from low to high (both multiples of it).
std::vector<double> tick_values(double low, double high, double step);
// A tick's number with as many decimals as the step needs ("250", "0.5",
// "-0.05"; never "-0").
std::string tick_label(double value, double step);

}  // namespace vae_app

#endif  // VAE_APPS_PLOTS_H
