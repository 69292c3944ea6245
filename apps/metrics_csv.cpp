#include "metrics_csv.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <vector>

#include "data_file_error.h"
#include "regular_file.h"

namespace vae_app {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

constexpr std::size_t kColumnCount = 6;

template <typename Number>
bool parse_number(std::string_view text, Number& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

EpochMetrics parse_row(const std::string& path, std::size_t line_number, std::string_view line) {
  std::string_view fields[kColumnCount];
  std::size_t count = 0;
  for (std::size_t start = 0;; ++count) {
    const std::size_t comma = line.find(',', start);
    if (count < kColumnCount) fields[count] = line.substr(start, comma - start);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  const std::string where = "line " + std::to_string(line_number) + ": ";
  if (count + 1 != kColumnCount) {
    throw DataFileError(path, where + "expected " + std::to_string(kColumnCount) +
                                  " comma-separated fields, found " + std::to_string(count + 1));
  }
  EpochMetrics row;
  double* const numbers[] = {&row.train_loss, &row.test_elbo, &row.test_reconstruction,
                             &row.test_kl, &row.seconds};
  if (!parse_number(fields[0], row.epoch)) {
    throw DataFileError(path, where + "epoch '" + std::string(fields[0]) + "' is not an integer");
  }
  for (std::size_t i = 1; i < kColumnCount; ++i) {
    if (!parse_number(fields[i], *numbers[i - 1])) {
      throw DataFileError(path, where + "field " + std::to_string(i + 1) + " '" +
                                    std::string(fields[i]) + "' is not a number");
    }
  }
  return row;
}

}  // namespace

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& rows) {
  const std::string temporary = path + ".tmp";
  const auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    throw std::runtime_error(path + ": " + what + ": " + reason);
  };
  FileHandle file(std::fopen(temporary.c_str(), "w"));
  if (!file) fail("cannot create the temporary file");
  std::fprintf(file.get(), "%s\n", kMetricsCsvHeader);
  for (const EpochMetrics& row : rows) {
    std::fprintf(file.get(), "%lld,%.9g,%.9g,%.9g,%.9g,%.3f\n", static_cast<long long>(row.epoch),
                 row.train_loss, row.test_elbo, row.test_reconstruction, row.test_kl, row.seconds);
  }
  const bool written = std::ferror(file.get()) == 0 && std::fflush(file.get()) == 0 &&
                       fsync(fileno(file.get())) == 0;
  if (std::fclose(file.release()) != 0 || !written) fail("cannot write");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("cannot replace the file");
}

std::vector<EpochMetrics> metrics_for_checkpoint(const std::string& path,
                                                 std::int64_t epochs_done, std::size_t* dropped) {
  std::vector<EpochMetrics> rows = read_metrics_csv(path);
  const std::size_t all = rows.size();
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [&](const EpochMetrics& r) { return r.epoch > epochs_done; }),
             rows.end());
  *dropped = all - rows.size();
  if (*dropped > 0) write_metrics_csv(path, rows);
  return rows;
}

double as_written(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);  // as write_metrics_csv prints the figures
  double read = 0.0;
  parse_number(std::string_view(text), read);  // as read_metrics_csv parses them
  return read;
}

std::vector<EpochMetrics> read_metrics_csv(const std::string& path) {
  std::vector<EpochMetrics> rows;
  const InputFile file = open_regular_file(path, true);
  if (!file) return rows;
  std::string text;
  char buffer[1 << 16];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) {
    text.append(buffer, got);
  }
  if (std::ferror(file.get())) throw DataFileError(path, "read error");
  std::istringstream input(text);
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(input, line)) {
    ++line_number;
    if (line_number == 1) {
      if (line != kMetricsCsvHeader) {
        throw DataFileError(path,
                            "line 1: expected the header '" + std::string(kMetricsCsvHeader) + "'");
      }
      continue;
    }
    rows.push_back(parse_row(path, line_number, line));
    // The rows are epochs 1, 2, 3, ... in order: a duplicate, a gap or an
    // epoch below 1 is a damaged history, which no resume should extend.
    const auto expected = static_cast<std::int64_t>(rows.size());
    if (rows.back().epoch != expected) {
      throw DataFileError(path, "line " + std::to_string(line_number) + ": epoch " +
                                    std::to_string(rows.back().epoch) + " where epoch " +
                                    std::to_string(expected) + " was expected");
    }
  }
  return rows;
}

}  // namespace vae_app
