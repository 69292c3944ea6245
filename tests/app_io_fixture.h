// The fixture of the tests of vae-train's I/O library (test_app_io.cpp,
// test_app_files.cpp): a fresh temporary directory per test, files written
// into it (plain or gzip), random bytes from a seed, and the check that a
// reader refuses a file with one line naming it.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "data_file_error.h"
#include "data_matrix.h"

namespace app_io_test {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using vae_app::DataMatrix;

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

Bytes random_bytes(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  Bytes bytes(count);
  for (auto& value : bytes) value = static_cast<std::uint8_t>(byte(generator));
  return bytes;
}

class AppIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "vae_app_io_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
  }

  std::string path(const std::string& name) const { return (directory_ / name).string(); }

  std::string write_file(const std::string& name, const Bytes& bytes) const {
    const std::string file = path(name);
    std::ofstream output(file, std::ios::binary);
    output.write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(output.good()) << file;
    return file;
  }

  // Compresses through zlib's gzFile API.
  std::string write_gzip_file(const std::string& name, const Bytes& bytes) const {
    const std::string file = path(name);
    std::unique_ptr<gzFile_s, GzCloser> output(gzopen(file.c_str(), "wb"));
    EXPECT_NE(output, nullptr) << file;
    EXPECT_EQ(gzwrite(output.get(), bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    return file;
  }

  Bytes gzip_bytes(const Bytes& bytes) const {
    const std::string file = write_gzip_file("scratch.gz", bytes);
    std::ifstream input(file, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>());
  }

  fs::path directory_;
};

using Reader = std::function<DataMatrix(const std::string&)>;

// The reader refuses the file with one line that names it and says `problem`.
inline void expect_refused(const Reader& read, const std::string& file, const std::string& problem) {
  try {
    read(file);
    ADD_FAILURE() << file << " was accepted; expected: " << problem;
  } catch (const vae_app::DataFileError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind(file + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

}  // namespace app_io_test
