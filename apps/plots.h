// Line plots drawn into an RGB Image: polylines with point markers on a
// white canvas, with axes and grid lines at round values. There is no text;
// the caller prints the legend and the axis ranges (see PlotAxes).
#ifndef VAE_APPS_PLOTS_H
#define VAE_APPS_PLOTS_H

#include <string>
#include <vector>

#include "image.h"

namespace vae_app {

struct Curve {
  std::string name;
  Rgb color{};
  std::vector<double> x;
  std::vector<double> y;  // same length as x; non-finite points are left out
};

// The value ranges the plot area spans, and the spacing of its grid lines.
struct PlotAxes {
  double x_min = 0.0;
  double x_max = 1.0;
  double x_step = 1.0;
  double y_min = 0.0;
  double y_max = 1.0;
  double y_step = 1.0;
};

struct LinePlot {
  Image image;
  PlotAxes axes;
};

// Vertical grid lines lie at least min_x_step apart (1 for epoch numbers).
// Throws std::invalid_argument when a curve's x and y differ in length or
// the canvas is smaller than 64 x 64.
LinePlot plot_curves(const std::vector<Curve>& curves, int width, int height,
                     double min_x_step = 0.0);

}  // namespace vae_app

#endif  // VAE_APPS_PLOTS_H
