// loss.png: the train loss and the test ELBO per epoch.
#ifndef VAE_APPS_LOSS_PLOT_H
#define VAE_APPS_LOSS_PLOT_H

#include <string>
#include <vector>

#include "metrics_csv.h"

namespace vae_app {

inline constexpr int kLossPlotWidth = 800;
inline constexpr int kLossPlotHeight = 500;

// Writes the plot of rows to path; model names the model in its title
// (model_description in pictures.h). When the two series' sizes are alike
// (the usual case: the loss is about minus the ELBO) they share one scale,
// the right axis reading the left one negated, and the picture says so;
// otherwise each has its own axis and scale.
void write_loss_png(const std::vector<EpochMetrics>& rows, const std::string& model,
                    const std::string& path);

}  // namespace vae_app

#endif  // VAE_APPS_LOSS_PLOT_H
