#include "diagnostics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "plots.h"
#include "png_writer.h"

namespace vae_app {
namespace {

constexpr Rgb kActiveColor{31, 119, 180};
constexpr Rgb kInactiveColor{190, 190, 190};
constexpr int kPlotWidth = 800;
constexpr int kPlotHeight = 500;

std::string format(const char* pattern, double a, double b = 0.0, double c = 0.0) {
  char text[160];
  std::snprintf(text, sizeof text, pattern, a, b, c);
  return text;
}

nlohmann::json to_json(const MeanWithError& m) {
  return {{"mean", m.mean}, {"std_error", m.std_error}};
}

}  // namespace

MeanWithError mean_with_error(const std::vector<double>& values) {
  MeanWithError m;
  if (values.empty()) return m;
  const auto n = static_cast<double>(values.size());
  m.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  if (values.size() < 2) return m;
  double squares = 0.0;
  for (const double v : values) squares += (v - m.mean) * (v - m.mean);
  m.std_error = std::sqrt(squares / (n - 1.0) / n);
  return m;
}

std::vector<float> transformed_rows(const DataMatrix& data, std::int64_t rows, int transform,
                                    std::uint64_t seed) {
  if (rows < 0 || rows > data.rows) throw std::out_of_range("transformed_rows: rows out of range");
  const auto count = static_cast<std::size_t>(rows * data.dim);
  if (data.type == ElementType::float32) {
    return std::vector<float>(data.floats.begin(),
                              data.floats.begin() + static_cast<std::ptrdiff_t>(count));
  }
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<float> x(count);
  for (std::size_t e = 0; e < count; ++e) {
    const double y = data.bytes[e];
    switch (transform) {
      case 1:  // binarize: x ~ Bernoulli(y / 255)
        x[e] = uniform(generator) < y / 255.0 ? 1.0f : 0.0f;
        break;
      case 2:  // dequantize: x = (y + u) / 256
        x[e] = static_cast<float>((y + uniform(generator)) / 256.0);
        break;
      default:  // scale
        x[e] = static_cast<float>(y / 255.0);
    }
  }
  return x;
}

std::string diagnostics_table(const Diagnostics& d) {
  std::string t = "diagnostics (test set):\n";
  if (d.has_log_px) {
    t += format("  log p(x)            %9.2f nats  standard error %.3f, mean ESS %.1f", d.log_px.log_px,
                d.log_px.std_error, d.log_px.mean_ess);
    t += format(" of K=%.0f, %.0f rows\n", static_cast<double>(d.log_px.k),
                static_cast<double>(d.log_px.rows));
  }
  t += format("  active units        %9.0f of %.0f", static_cast<double>(d.active_units),
              static_cast<double>(d.kl.size()));
  t += format("  (Cov_x E_q[z_u] > %g)\n", d.active_threshold);
  std::vector<double> sorted = d.kl;
  std::sort(sorted.rbegin(), sorted.rend());
  t += format("  KL                  %9.2f nats, per latent (sorted):", d.kl_total);
  for (const double kl : sorted) t += format(" %.2f", kl);
  t += "\n";
  t += format("  I_q(x; z)           %9.2f nats  standard error %.3f; KL(q(z) || p(z)) = %.2f\n",
              d.mutual_information, d.mutual_information_std_error, d.marginal_kl);
  if (d.has_gap) {
    const InferenceGap& g = d.gap;
    t += format("  on the first %.0f test rows (log p(x) with K=%.0f, each q refined by %.0f Adam "
                "steps):\n",
                static_cast<double>(g.rows), static_cast<double>(g.k), static_cast<double>(g.steps));
    t += format("    log p(x)          %9.2f nats  (%.3f)\n", g.log_px.mean, g.log_px.std_error);
    t += format("    ELBO, refined q   %9.2f nats  (%.3f)\n", g.elbo_refined.mean,
                g.elbo_refined.std_error);
    t += format("    ELBO, encoder     %9.2f nats  (%.3f)\n", g.elbo_encoder.mean,
                g.elbo_encoder.std_error);
    t += format("    approximation gap %9.2f nats  (%.3f)  log p(x) - ELBO(refined q)\n",
                g.approximation.mean, g.approximation.std_error);
    t += format("    amortization gap  %9.2f nats  (%.3f)  ELBO(refined q) - ELBO(encoder)\n",
                g.amortization.mean, g.amortization.std_error);
  }
  return t;
}

std::string diagnostics_json(const Diagnostics& d) {
  nlohmann::json j;
  if (d.has_log_px) {
    j["log_px"] = {{"mean", d.log_px.log_px}, {"std_error", d.log_px.std_error},
                   {"mean_ess", d.log_px.mean_ess}, {"k", d.log_px.k}, {"rows", d.log_px.rows}};
  }
  std::vector<bool> active;
  for (const double a : d.activity) active.push_back(a > d.active_threshold);
  j["latent_usage"] = {{"kl", d.kl},
                       {"activity", d.activity},
                       {"active", active},
                       {"active_threshold", d.active_threshold},
                       {"active_units", d.active_units},
                       {"kl_total", d.kl_total},
                       {"mutual_information", d.mutual_information},
                       {"mutual_information_std_error", d.mutual_information_std_error},
                       {"marginal_kl", d.marginal_kl}};
  if (d.has_gap) {
    const InferenceGap& g = d.gap;
    j["inference_gap"] = {{"rows", g.rows},
                          {"k", g.k},
                          {"steps", g.steps},
                          {"log_px", to_json(g.log_px)},
                          {"elbo_refined", to_json(g.elbo_refined)},
                          {"elbo_encoder", to_json(g.elbo_encoder)},
                          {"approximation_gap", to_json(g.approximation)},
                          {"amortization_gap", to_json(g.amortization)}};
  }
  return j.dump(2) + "\n";
}

void write_latent_usage_png(const Diagnostics& d, const std::string& model,
                            const std::string& path) {
  std::vector<std::size_t> order(d.kl.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return d.kl[a] > d.kl[b]; });
  Curve active{"active", kActiveColor, {}, {}};
  Curve inactive{"inactive", kInactiveColor, {}, {}};
  active.bars = inactive.bars = true;
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    const std::size_t u = order[rank];
    Curve& c = d.activity[u] > d.active_threshold ? active : inactive;
    c.x.push_back(static_cast<double>(rank + 1));
    c.y.push_back(d.kl[u]);
  }
  PlotLabels labels;
  labels.title = "KL per latent, " + model + format(": %.0f of %.0f active",
                                                    static_cast<double>(d.active_units),
                                                    static_cast<double>(d.kl.size()));
  labels.x_title = "latent, sorted by KL";
  labels.left_title = "mean KL(q(z_u|x) || N(0,1)), nats";
  const LinePlot plot = plot_curves({active, inactive}, labels, kPlotWidth, kPlotHeight, 1.0);
  write_png(path, plot.image);
}

}  // namespace vae_app
