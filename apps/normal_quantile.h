// The quantile function (inverse CDF) of the standard normal distribution.
#ifndef VAE_APPS_NORMAL_QUANTILE_H
#define VAE_APPS_NORMAL_QUANTILE_H

namespace vae_app {

// z with P(Z <= z) = p for Z ~ N(0, 1); p in (0, 1), else
// std::invalid_argument. Relative error below 1.2e-9 (Acklam's rational
// approximation).
double normal_quantile(double p);

}  // namespace vae_app

#endif  // VAE_APPS_NORMAL_QUANTILE_H
