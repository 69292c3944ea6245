// A data set as read from a file: rows x dim values, one data point per row,
// row-major, either bytes (uint8) or float32; for a conditional model, with
// each row's class label, read from a file of its own.
#ifndef VAE_APPS_DATA_MATRIX_H
#define VAE_APPS_DATA_MATRIX_H

#include <cstdint>
#include <string>
#include <vector>

namespace vae_app {

enum class ElementType { uint8, float32 };

const char* element_type_name(ElementType type);

struct DataMatrix {
  std::string source;  // where the rows came from, for messages
  ElementType type = ElementType::uint8;
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  std::vector<std::uint8_t> bytes;  // rows * dim values when type is uint8
  std::vector<float> floats;        // rows * dim values when type is float32
  std::vector<std::uint8_t> labels;  // rows class labels, or none (a model without conditions)
  std::string labels_source;         // where the labels came from, for messages
};

// Rows [first, first + count) as floats: bytes scaled by 1/255, floats as
// they are. Throws std::out_of_range when the rows are not all there.
std::vector<float> rows_as_floats(const DataMatrix& data, std::int64_t first, std::int64_t count);

// Moves the last `count` rows (1 <= count < rows), and their labels, out of
// `data` into the returned matrix.
DataMatrix split_off_last_rows(DataMatrix& data, std::int64_t count);

}  // namespace vae_app

#endif  // VAE_APPS_DATA_MATRIX_H
