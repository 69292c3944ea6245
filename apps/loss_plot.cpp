#include "loss_plot.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "plots.h"
#include "png_writer.h"

namespace vae_app {
namespace {

constexpr Rgb kTrainLossColor{214, 39, 40};
constexpr Rgb kTestLossColor{31, 119, 180};
// The loss and the ELBO share a scale unless that would squeeze either
// curve into less than a third of the height.
constexpr double kSharedScaleSqueeze = 3.0;

// The range of the finite values seen.
struct Span {
  double low = INFINITY;
  double high = -INFINITY;
  void include(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  double width() const { return high >= low ? high - low : 0.0; }
};

}  // namespace

void write_loss_png(const std::vector<EpochMetrics>& rows, const std::string& model,
                    const std::string& path) {
  Curve train_loss{"train loss", kTrainLossColor, {}, {}, false};
  Curve test_elbo{"test ELBO", kTestLossColor, {}, {}, true};
  Span loss_span, negated_elbo_span, both;
  for (const EpochMetrics& row : rows) {
    train_loss.x.push_back(static_cast<double>(row.epoch));
    train_loss.y.push_back(row.train_loss);
    test_elbo.x.push_back(static_cast<double>(row.epoch));
    test_elbo.y.push_back(row.test_elbo);
    loss_span.include(row.train_loss);
    negated_elbo_span.include(-row.test_elbo);
    both.include(row.train_loss);
    both.include(-row.test_elbo);
  }
  PlotLabels labels;
  labels.x_title = "epoch";
  labels.right_negates_left =
      both.width() <= kSharedScaleSqueeze * std::max(loss_span.width(), negated_elbo_span.width());
  labels.title = "loss per epoch, " + model;
  if (!rows.empty()) {
    labels.title += ", epochs " + std::to_string(rows.front().epoch) + "-" +
                    std::to_string(rows.back().epoch);
  }
  labels.left_title = "train loss, nats";
  train_loss.name = "train loss (left)";
  if (labels.right_negates_left) {
    labels.right_title = "test ELBO, nats (= -left)";
    test_elbo.name = "test ELBO (right, the left negated)";
  } else {
    labels.right_title = "test ELBO, nats (own scale)";
    test_elbo.name = "test ELBO (right)";
  }
  const LinePlot plot =
      plot_curves({train_loss, test_elbo}, labels, kLossPlotWidth, kLossPlotHeight, 1.0);
  write_png(path, plot.image);
}

}  // namespace vae_app
