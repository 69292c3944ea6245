#include "conditions.h"

#include <stdexcept>

namespace vae_app {

std::vector<float> label_conditions(const DataMatrix& data, std::int64_t first, std::int64_t count,
                                    std::int64_t classes) {
  if (classes == 0) return {};
  if (first < 0 || count < 0 || first + count > static_cast<std::int64_t>(data.labels.size())) {
    throw std::out_of_range("label_conditions: rows without labels");
  }
  std::vector<float> conditions(static_cast<std::size_t>(count * classes), 0.0f);
  for (std::int64_t row = 0; row < count; ++row) {
    const std::uint8_t label = data.labels[static_cast<std::size_t>(first + row)];
    if (label >= classes) throw std::out_of_range("label_conditions: a label beyond the classes");
    conditions[static_cast<std::size_t>(row * classes + label)] = 1.0f;
  }
  return conditions;
}

std::vector<float> class_conditions(std::int64_t shown_classes, std::int64_t per_class,
                                    std::int64_t classes) {
  if (classes == 0) return {};
  std::vector<float> conditions(static_cast<std::size_t>(shown_classes * per_class * classes),
                                0.0f);
  for (std::int64_t k = 0; k < shown_classes; ++k) {
    for (std::int64_t i = 0; i < per_class; ++i) {
      conditions[static_cast<std::size_t>((k * per_class + i) * classes + k)] = 1.0f;
    }
  }
  return conditions;
}

}  // namespace vae_app
