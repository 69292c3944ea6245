#include "run_data.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>

#include "data_file_error.h"
#include "data_loader.h"

namespace vae_app {
namespace {

namespace fs = std::filesystem;

constexpr char kFashionMnistDirectory[] = "/usr/share/datasets/fashion-mnist";
constexpr char kFashionMnistTrainFile[] = "train-images-idx3-ubyte.gz";
constexpr char kFashionMnistTestFile[] = "t10k-images-idx3-ubyte.gz";
constexpr char kFashionMnistTrainLabels[] = "train-labels-idx1-ubyte.gz";
constexpr char kFashionMnistTestLabels[] = "t10k-labels-idx1-ubyte.gz";
// Without --test, a data file gives its last rows / kHoldOutDivisor rows to testing.
constexpr std::int64_t kHoldOutDivisor = 10;

bool file_exists(const fs::path& path) {
  std::error_code error;
  return fs::exists(path, error);
}

// Reads the labels of data's rows from path: one byte a row, a row each.
void read_labels(const std::string& path, DataMatrix* data) {
  DataMatrix labels = read_data_file(path);
  if (labels.type != ElementType::uint8 || labels.dim != 1) {
    throw DataFileError(path, "holds rows of " + std::to_string(labels.dim) + " " +
                                  element_type_name(labels.type) +
                                  " value(s); class labels are one byte (uint8) a row");
  }
  if (labels.rows != data->rows) {
    throw DataFileError(path, std::to_string(labels.rows) + " labels for the " +
                                  std::to_string(data->rows) + " rows of " + data->source);
  }
  data->labels = std::move(labels.bytes);
  data->labels_source = path;
}

// The label file that `flag` names for `data_flag`'s rows, checked to be
// given and to exist.
std::string given_labels(const std::string& path, const char* flag, const char* data_flag,
                         const std::string& data_path) {
  if (path.empty()) {
    throw UsageError(std::string("the model is conditional: give the class labels of ") +
                     data_flag + " " + data_path + " with " + flag + " PATH");
  }
  if (!file_exists(path)) {
    throw UsageError(std::string(flag) + ": " + path +
                     " does not exist (the class labels a conditional model needs)");
  }
  return path;
}

// fashion-mnist's images and, labelled, their labels.
void read_fashion_mnist(const Options& options, bool labelled, DataSets* sets) {
  const fs::path directory = kFashionMnistDirectory;
  if (!file_exists(directory / kFashionMnistTrainFile) ||
      !file_exists(directory / kFashionMnistTestFile)) {
    throw MissingDatasetError(std::string("fashion-mnist not found in ") + kFashionMnistDirectory +
                              "; install it with: sudo apt-get install dataset-fashion-mnist");
  }
  sets->name = kFashionMnist;
  sets->train = read_data_file((directory / kFashionMnistTrainFile).string());
  const bool own_test = options.test_path.empty();
  if (own_test) sets->test = read_data_file((directory / kFashionMnistTestFile).string());
  if (!labelled) return;
  for (const char* file : {kFashionMnistTrainLabels, kFashionMnistTestLabels}) {
    if (!file_exists(directory / file)) {
      throw MissingDatasetError(
          "--conditional: fashion-mnist's labels not found: " + (directory / file).string() +
          "; install them with: sudo apt-get install dataset-fashion-mnist");
    }
  }
  read_labels((directory / kFashionMnistTrainLabels).string(), &sets->train);
  if (own_test) read_labels((directory / kFashionMnistTestLabels).string(), &sets->test);
}

}  // namespace

DataSets load_data(const Options& options, bool labelled) {
  if (!labelled) {
    for (const char* flag : {"--labels", "--test-labels"}) {
      if (options.was_given(flag)) {
        throw UsageError(std::string(flag) + ": the checkpoint's model takes no conditions");
      }
    }
  }
  DataSets sets;
  if (options.data == kFashionMnist) {
    read_fashion_mnist(options, labelled, &sets);
  } else {
    sets.name = options.data;
    sets.train = read_data_file(options.data);
    if (labelled) {
      read_labels(given_labels(options.labels_path, "--labels", "--data", options.data),
                  &sets.train);
    }
  }
  if (!options.test_path.empty()) {
    sets.test = read_data_file(options.test_path);
    if (labelled) {
      read_labels(
          given_labels(options.test_labels_path, "--test-labels", "--test", options.test_path),
          &sets.test);
    }
  } else if (options.data != kFashionMnist) {
    if (sets.train.rows < 2) {
      throw std::runtime_error(options.data +
                               ": one row is too few to hold out a test set; give --test");
    }
    sets.test = split_off_last_rows(sets.train,
                                    std::max<std::int64_t>(1, sets.train.rows / kHoldOutDivisor));
    std::printf("test set: the last %lld rows of %s (no --test given)\n",
                static_cast<long long>(sets.test.rows), options.data.c_str());
  }
  if (sets.test.dim != sets.train.dim) {
    throw std::runtime_error(sets.test.source + ": rows of " + std::to_string(sets.test.dim) +
                             " values, but the training rows have " +
                             std::to_string(sets.train.dim));
  }
  if (sets.test.type != sets.train.type) {
    throw std::runtime_error(sets.test.source + ": holds " + element_type_name(sets.test.type) +
                             " values, but the training data holds " +
                             element_type_name(sets.train.type));
  }
  return sets;
}

std::int64_t class_count(const DataMatrix& train) {
  if (train.labels.empty()) return 0;
  return std::int64_t{*std::max_element(train.labels.begin(), train.labels.end())} + 1;
}

void check_labels(const DataMatrix& data, std::int64_t classes) {
  for (std::size_t row = 0; row < data.labels.size(); ++row) {
    if (data.labels[row] >= classes) {
      throw std::runtime_error(
          data.labels_source + ": row " + std::to_string(row) + " has label " +
          std::to_string(data.labels[row]) + ", but the model's conditions are one-hot over " +
          std::to_string(classes) + " classes (0 to " + std::to_string(classes - 1) + ")");
    }
  }
}

}  // namespace vae_app
