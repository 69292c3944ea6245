#include "data_matrix.h"

#include <stdexcept>

namespace vae_app {

const char* element_type_name(ElementType type) {
  return type == ElementType::uint8 ? "uint8" : "float32";
}

std::vector<float> rows_as_floats(const DataMatrix& data, std::int64_t first, std::int64_t count) {
  if (first < 0 || count < 0 || first > data.rows || count > data.rows - first) {
    throw std::out_of_range("rows_as_floats: rows out of range");
  }
  const auto begin = static_cast<std::size_t>(first * data.dim);
  const auto size = static_cast<std::size_t>(count * data.dim);
  if (data.type == ElementType::float32) {
    return std::vector<float>(data.floats.begin() + static_cast<std::ptrdiff_t>(begin),
                              data.floats.begin() + static_cast<std::ptrdiff_t>(begin + size));
  }
  std::vector<float> values(size);
  for (std::size_t i = 0; i < size; ++i) {
    values[i] = static_cast<float>(data.bytes[begin + i]) / 255.0f;
  }
  return values;
}

DataMatrix split_off_last_rows(DataMatrix& data, std::int64_t count) {
  if (count < 1 || count >= data.rows) {
    throw std::out_of_range("split_off_last_rows: count out of range");
  }
  DataMatrix tail;
  tail.source = data.source;
  tail.type = data.type;
  tail.rows = count;
  tail.dim = data.dim;
  const auto keep = static_cast<std::ptrdiff_t>((data.rows - count) * data.dim);
  if (data.type == ElementType::uint8) {
    tail.bytes.assign(data.bytes.begin() + keep, data.bytes.end());
    data.bytes.resize(static_cast<std::size_t>(keep));
    data.bytes.shrink_to_fit();
  } else {
    tail.floats.assign(data.floats.begin() + keep, data.floats.end());
    data.floats.resize(static_cast<std::size_t>(keep));
    data.floats.shrink_to_fit();
  }
  if (!data.labels.empty()) {
    const auto kept_labels = static_cast<std::ptrdiff_t>(data.rows - count);
    tail.labels.assign(data.labels.begin() + kept_labels, data.labels.end());
    data.labels.resize(static_cast<std::size_t>(kept_labels));
    data.labels.shrink_to_fit();
    tail.labels_source = data.labels_source;
  }
  data.rows -= count;
  return tail;
}

}  // namespace vae_app
