#include "host_memory.h"

#include <sys/resource.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cstdio>

#include "config.h"
#include "error.h"

namespace vae {

double host_memory_limit() {
  double limit = 0;
  struct sysinfo info {};
  if (sysinfo(&info) == 0) {
    limit = (static_cast<double>(info.totalram) + static_cast<double>(info.totalswap)) *
            static_cast<double>(info.mem_unit);
  }
  if (limit <= 0) limit = 1e300;  // unknown: nothing is refused for it
  for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit r {};
    if (getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
      limit = std::min(limit, static_cast<double>(r.rlim_cur));
    }
  }
  return limit;
}

std::string byte_text(double bytes) {
  char text[64];
  if (bytes < 1e3) {
    std::snprintf(text, sizeof text, "%.0f bytes", bytes);
  } else {
    const char* units[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
    int unit = 0;
    bytes /= 1e3;
    while (bytes >= 1e3 && unit < 5) {
      bytes /= 1e3;
      ++unit;
    }
    std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  }
  return text;
}

std::string describe_trainer(const Config& config, const char* backend) {
  std::string shape = std::to_string(config.input_dim);
  for (const int64_t width : config.hidden) shape += "-" + std::to_string(width);
  shape += "-" + std::to_string(config.latent_dim);
  return std::string("a ") + backend + " trainer of " + shape + " with max batch " +
         std::to_string(config.max_batch) + " and " + std::to_string(config.samples) +
         " sample(s) per data point";
}

void check_host_memory(double bytes, const std::string& what) {
  const double limit = host_memory_limit();
  if (bytes <= limit) return;
  fail(VAE_ERROR_OUT_OF_MEMORY, what + " needs " + byte_text(bytes) +
                                    " of host memory, more than this machine can give (" +
                                    byte_text(limit) +
                                    ": memory and swap, or the process's limit); nothing was "
                                    "allocated (lower VAE_OPT_MAX_BATCH or VAE_OPT_SAMPLES)");
}

}  // namespace vae
