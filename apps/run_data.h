// vae-train's data: the training and test rows of --data and --test (or
// fashion-mnist's own), and for a conditional model each row's class label,
// from the label files beside fashion-mnist's images or from --labels and
// --test-labels (IDX or .npy files of one byte a row).
#ifndef VAE_APPS_RUN_DATA_H
#define VAE_APPS_RUN_DATA_H

#include <cstdint>
#include <stdexcept>
#include <string>

#include "data_matrix.h"
#include "options.h"

namespace vae_app {

// fashion-mnist (or its labels) is not installed; what() is the whole
// message to print.
class MissingDatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DataSets {
  std::string name;
  DataMatrix train;
  DataMatrix test;  // of --test, fashion-mnist's, or the last rows of --data
};

// Reads the rows; with `labelled` (a conditional model), each row's label
// into the matrices' labels too. Throws MissingDatasetError, UsageError (a
// conditional model's labels not given) and DataFileError.
DataSets load_data(const Options& options, bool labelled);

// The classes of a new conditional model's one-hot conditions: the largest
// training label + 1.
std::int64_t class_count(const DataMatrix& train);

// Refuses (std::runtime_error naming the file and row) a label that is not
// below `classes`, the model's condition width.
void check_labels(const DataMatrix& data, std::int64_t classes);

}  // namespace vae_app

#endif  // VAE_APPS_RUN_DATA_H
