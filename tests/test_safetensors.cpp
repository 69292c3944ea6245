// The safetensors reader and writer: exact round trips, a header that follows
// the spec, every truncation and random header corruption refused without a
// crash, each malformed case named, and atomic writes that leave no debris.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"
#include "safetensors.h"
#include "test_support.h"

namespace vae {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

// A fresh directory per test, removed afterwards.
class Safetensors : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::vector<std::string> directory_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  const vae::testing::TestDirectory scratch_{"vae_safetensors"};
  const fs::path dir_ = scratch_.path();
};

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t e : shape) n *= e;
  return n;
}

Tensor random_tensor(std::vector<int64_t> shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor t{std::move(shape), {}};
  t.data.resize(static_cast<size_t>(product(t.shape)));
  for (float& x : t.data) x = normal(rng);
  return t;
}

// Arbitrary bit patterns, NaN payloads, infinities and subnormals included, to
// show that values pass through as bits rather than as numbers.
Tensor random_bits_tensor(std::vector<int64_t> shape, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t{std::move(shape), {}};
  t.data.resize(static_cast<size_t>(product(t.shape)));
  for (float& x : t.data) {
    const uint32_t bits = rng();
    std::memcpy(&x, &bits, sizeof x);
  }
  return t;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// A small file with a few tensors and metadata.
SafetensorsFile sample_file() {
  SafetensorsFile f;
  f.metadata = {{"libvae.format", "libvae-checkpoint-1"}, {"note", "a metadata string with spaces"}};
  f.tensors["encoder.weight"] = random_tensor({3, 4}, 11);
  f.tensors["encoder.bias"] = random_tensor({3}, 12);
  f.tensors["scale"] = random_tensor({}, 13);
  return f;
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  // Removed first, not truncated: ext4 flushes a truncated file to disk on
  // close, which makes thousands of rewrites slow.
  fs::remove(path);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A file built by hand: the given length (by default the header's own), the
// header text, then data_size bytes that are never all zero.
Bytes raw_file(const std::string& header, size_t data_size, uint64_t length) {
  Bytes out(8 + header.size() + data_size);
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<unsigned char>(length >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  for (size_t i = 0; i < data_size; ++i) {
    out[8 + header.size() + i] = static_cast<unsigned char>(i * 37 + 1);
  }
  return out;
}
Bytes raw_file(const std::string& header, size_t data_size) {
  return raw_file(header, data_size, header.size());
}

// Runs f; returns the status of the vae::Error it throws, or an explanation
// of what else happened as a test failure.
::testing::AssertionResult throws_status(const std::function<void()>& f, vae_status expected) {
  try {
    f();
  } catch (const Error& e) {
    if (e.status() == expected) return ::testing::AssertionSuccess() << e.what();
    return ::testing::AssertionFailure() << "status " << e.status() << " instead of " << expected << ": "
                                         << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "a non-vae exception escaped: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "an unknown exception escaped";
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

TEST_F(Safetensors, RoundTripIsBitExact) {
  SafetensorsFile f = sample_file();
  f.tensors["bits"] = random_bits_tensor({5, 2, 3}, 14);
  f.tensors["empty"] = Tensor{{0}, {}};
  f.tensors["empty_matrix"] = Tensor{{4, 0}, {}};
  f.tensors["long_row"] = random_tensor({1, 1000}, 15);
  f.metadata["unicode"] = "\xc3\xa9t\xc3\xa9 \xe2\x88\x91";
  f.metadata["escapes"] = "a \"quote\", a \\ backslash, a tab\t, a newline\n and \x01\x1f";
  f.tensors["odd \"name\"\\\n"] = random_tensor({2}, 16);
  const std::string p = path("model.safetensors");
  write_safetensors(p, f);
  const SafetensorsFile back = read_safetensors(p);

  EXPECT_EQ(back.metadata, f.metadata);
  ASSERT_EQ(back.tensors.size(), f.tensors.size());
  for (const auto& [name, tensor] : f.tensors) {
    SCOPED_TRACE(name);
    ASSERT_EQ(back.tensors.count(name), 1u);
    EXPECT_EQ(back.tensors.at(name).shape, tensor.shape);
    EXPECT_TRUE(same_bits(back.tensors.at(name).data, tensor.data));
  }
  EXPECT_EQ(back.tensors.at("scale").data.size(), 1u);
}

TEST_F(Safetensors, EmptyFileRoundTrips) {
  const std::string p = path("empty.safetensors");
  write_safetensors(p, SafetensorsFile{});
  const Bytes bytes = read_bytes(p);
  EXPECT_EQ(bytes.size() % 8, 0u);
  const SafetensorsFile back = read_safetensors(p);
  EXPECT_TRUE(back.metadata.empty());
  EXPECT_TRUE(back.tensors.empty());
}

TEST_F(Safetensors, HeaderFollowsTheSpec) {
  SafetensorsFile f = sample_file();
  f.tensors["empty"] = Tensor{{0}, {}};
  const std::string p = path("model.safetensors");
  write_safetensors(p, f);
  const Bytes bytes = read_bytes(p);
  ASSERT_GE(bytes.size(), 8u);

  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{bytes[static_cast<size_t>(i)]} << (8 * i);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "the data section must start 8-byte aligned";
  const std::string text(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  // The JSON, then fewer than 8 spaces of padding.
  const size_t json_end = text.find_last_not_of(' ') + 1;
  ASSERT_GT(json_end, 0u);
  EXPECT_EQ(text[json_end - 1], '}');
  EXPECT_LT(text.size() - json_end, 8u);
  const nlohmann::json header = nlohmann::json::parse(text);
  ASSERT_TRUE(header.is_object());

  ASSERT_TRUE(header.contains("__metadata__"));
  using StringMap = std::map<std::string, std::string>;
  EXPECT_EQ(header["__metadata__"].get<StringMap>(), f.metadata);
  EXPECT_EQ(header.size(), f.tensors.size() + 1);

  // Name order, back to back, exactly covering the data.
  const uint64_t data_size = bytes.size() - 8 - n;
  uint64_t next = 0;
  for (const auto& [name, tensor] : f.tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(header.contains(name));
    const nlohmann::json& entry = header[name];
    EXPECT_EQ(entry.size(), 3u);
    EXPECT_EQ(entry["dtype"], "F32");
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), tensor.shape);
    const auto offsets = entry["data_offsets"].get<std::vector<uint64_t>>();
    ASSERT_EQ(offsets.size(), 2u);
    EXPECT_EQ(offsets[0], next);
    EXPECT_EQ(offsets[1] - offsets[0], tensor.data.size() * sizeof(float));
    ASSERT_LE(offsets[1], data_size);
    // Little-endian float32 at those offsets.
    for (size_t i = 0; i < tensor.data.size(); ++i) {
      uint32_t bits = 0;
      std::memcpy(&bits, &tensor.data[i], sizeof bits);
      for (size_t b = 0; b < 4; ++b) {
        EXPECT_EQ(bytes[8 + n + offsets[0] + 4 * i + b], static_cast<unsigned char>(bits >> (8 * b)));
      }
    }
    next = offsets[1];
  }
  EXPECT_EQ(next, data_size);
}

TEST_F(Safetensors, EveryTruncationIsRefused) {
  const std::string p = path("model.safetensors");
  write_safetensors(p, sample_file());
  const Bytes whole = read_bytes(p);
  ASSERT_GT(whole.size(), 100u);
  ASSERT_LT(whole.size(), 1000u);
  const std::string cut = path("cut.safetensors");
  for (size_t size = 0; size < whole.size(); ++size) {
    write_bytes(cut, Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(size)));
    ASSERT_TRUE(throws_status([&] { read_safetensors(cut); }, VAE_ERROR_FORMAT)) << "truncated to " << size;
  }
}

TEST_F(Safetensors, FlippedHeaderBytesAreRefusedOrReadConsistently) {
  const std::string p = path("model.safetensors");
  write_safetensors(p, sample_file());
  const Bytes whole = read_bytes(p);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{whole[static_cast<size_t>(i)]} << (8 * i);
  const size_t header_end = static_cast<size_t>(8 + n);

  std::mt19937 rng(20240601);
  std::uniform_int_distribution<size_t> position(0, header_end - 1);
  std::uniform_int_distribution<int> flips(1, 3);
  std::uniform_int_distribution<int> mask(1, 255);
  const std::string damaged = path("damaged.safetensors");
  int refused = 0;
  int read = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    Bytes bytes = whole;
    for (int k = flips(rng); k > 0; --k) bytes[position(rng)] ^= static_cast<unsigned char>(mask(rng));
    write_bytes(damaged, bytes);
    try {
      const SafetensorsFile f = read_safetensors(damaged);
      ++read;
      for (const auto& [name, tensor] : f.tensors) {
        ASSERT_EQ(static_cast<int64_t>(tensor.data.size()), product(tensor.shape)) << "trial " << trial;
      }
    } catch (const Error& e) {
      ASSERT_EQ(e.status(), VAE_ERROR_FORMAT) << "trial " << trial << ": " << e.what();
      ++refused;
    } catch (...) {
      FAIL() << "trial " << trial << ": an exception other than vae::Error escaped";
    }
  }
  // Both outcomes occur, so neither branch above is vacuous.
  EXPECT_GT(refused, 0);
  EXPECT_GT(read, 0);
}

TEST_F(Safetensors, HandBuiltValidFileReads) {
  // The baseline the malformed cases below depart from.
  const std::string p = path("hand.safetensors");
  write_bytes(p, raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  const SafetensorsFile f = read_safetensors(p);
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors.at("a").shape, std::vector<int64_t>{2});
  EXPECT_EQ(f.tensors.at("a").data.size(), 2u);
}

TEST_F(Safetensors, MalformedFilesAreFormatErrorsNamingTheProblem) {
  struct Case {
    const char* what;
    Bytes bytes;
    const char* message;  // a part of the error message
  };
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string deep_in_entry =
      R"({"a":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})";
  const std::vector<Case> cases = {
      {"empty file", {}, "too short"},
      {"7-byte file", Bytes(7, 1), "too short"},
      {"zero-length header", raw_file("", 0), "not valid JSON"},
      {"wrong dtype", raw_file(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", 8), "F16"},
      {"dtype not a string", raw_file(R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8), "dtype"},
      {"shape/offset mismatch", raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "does not fill"},
      {"overlapping ranges",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "overlaps"},
      {"empty range inside another",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})", 8),
       "overlaps"},
      {"gap between ranges",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20),
       "gap"},
      {"trailing data", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12),
       "trailing"},
      {"offsets beyond the file", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
       "reach past"},
      {"end offset far beyond the file",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,18446744073709551615]}})", 8),
       "reach past"},
      {"begin after end", raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "begin after"},
      {"negative extent", raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
       "negative"},
      {"negative offset", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
       "negative"},
      {"fractional extent", raw_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
       "not a non-negative integer"},
      {"extent past 2^64", raw_file(R"({"a":{"dtype":"F32","shape":[18446744073709551617],)"
                                    R"("data_offsets":[0,8]}})", 8),
       "not a non-negative integer"},
      {"extent past int64 with a zero",
       raw_file(R"({"a":{"dtype":"F32","shape":[9223372036854775808,0],"data_offsets":[0,0]}})", 0),
       "too large"},
      {"element count overflows",
       raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}})", 8),
       "does not fill"},
      {"byte count overflows",
       raw_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
       "does not fill"},
      {"offsets with three numbers",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", 8),
       "two integers"},
      {"shape not an array", raw_file(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
       "not an array"},
      {"extra key", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8),
       "exactly the keys"},
      {"missing key", raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "exactly the keys"},
      {"entry not an object", raw_file(R"({"a":[1,2]})", 0), "not an object"},
      {"header length huge", raw_file("{}", 0, uint64_t{1} << 63), "exceeds the limit"},
      {"header length just over the limit", raw_file("{}", 0, 100'000'001), "exceeds the limit"},
      {"header length one past the file", raw_file("{}", 0, 3), "runs past the end"},
      {"metadata with a non-string value",
       raw_file(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
       "not a string"},
      {"metadata not an object", raw_file(R"({"__metadata__":"x"})", 0), "not an object"},
      {"JSON that is an array", raw_file("[]", 0), "not an object"},
      {"JSON that is a number", raw_file("8", 0), "not an object"},
      {"invalid JSON", raw_file(R"({"a":{"dtype":"F32")", 0), "not valid JSON"},
      {"invalid UTF-8", raw_file("{\"\xff\":{}}", 0), "not valid JSON"},
      {"NUL in the header", raw_file(std::string("{}") + '\0' + " ", 0), "NUL"},
      {"NUL hiding a tensor", raw_file(std::string("{}") + '\0' + R"({"a":{}})", 0), "NUL"},
      // Refused at the first bracket, before the parser goes deeper.
      {"deeply nested array", raw_file(deep, 0), "JSON array, not an object"},
      {"deeply nested shape", raw_file(deep_in_entry, 0), "shape holds an array"},
      {"a tensor named twice",
       raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
       "'a' appears twice"},
      {"metadata twice", raw_file(R"({"__metadata__":{},"__metadata__":{}})", 0), "appears twice"},
      {"a metadata key twice", raw_file(R"({"__metadata__":{"k":"1","k":"2"}})", 0), "'k' twice"},
      {"an entry key twice",
       raw_file(R"({"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
       "exactly the keys"},
  };
  const std::string p = path("bad.safetensors");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    write_bytes(p, c.bytes);
    std::string message;
    try {
      read_safetensors(p);
      ADD_FAILURE() << "read without error";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), VAE_ERROR_FORMAT) << e.what();
      message = e.what();
    } catch (...) {
      ADD_FAILURE() << "an exception other than vae::Error escaped";
    }
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
    EXPECT_NE(message.find(p), std::string::npos) << message;
  }
}

TEST_F(Safetensors, MissingFileIsAnIoError) {
  const std::string p = path("absent.safetensors");
  EXPECT_TRUE(throws_status([&] { read_safetensors(p); }, VAE_ERROR_IO));
  EXPECT_TRUE(throws_status([&] { read_safetensors(dir_.string()); }, VAE_ERROR_IO)) << "a directory";
}

TEST_F(Safetensors, WritingIntoAMissingDirectoryIsAnIoErrorAndCreatesNothing) {
  const std::string p = path("no_such_dir/model.safetensors");
  EXPECT_TRUE(throws_status([&] { write_safetensors(p, sample_file()); }, VAE_ERROR_IO));
  EXPECT_FALSE(fs::exists(path("no_such_dir")));
  EXPECT_TRUE(directory_entries().empty());
}

TEST_F(Safetensors, OverwriteReplacesTheFileAndLeavesNoTemporaries) {
  const std::string p = path("model.safetensors");
  write_safetensors(p, sample_file());
  SafetensorsFile second;
  second.metadata["generation"] = "2";
  second.tensors["other"] = random_tensor({7, 3}, 21);
  write_safetensors(p, second);

  const SafetensorsFile back = read_safetensors(p);
  EXPECT_EQ(back.metadata, second.metadata);
  ASSERT_EQ(back.tensors.size(), 1u);
  EXPECT_TRUE(same_bits(back.tensors.at("other").data, second.tensors.at("other").data));
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(Safetensors, FailedRenameRemovesTheTemporaryFile) {
  // A directory in the target's place makes the final rename fail after the
  // temporary file has been written in full.
  const std::string p = path("occupied");
  ASSERT_TRUE(fs::create_directory(p));
  EXPECT_TRUE(throws_status([&] { write_safetensors(p, sample_file()); }, VAE_ERROR_IO));
  EXPECT_EQ(directory_entries(), std::vector<std::string>{"occupied"});
}

TEST_F(Safetensors, WriterRefusesInconsistentTensors) {
  const std::string p = path("model.safetensors");
  SafetensorsFile f = sample_file();
  f.tensors["bad"] = Tensor{{2, 3}, std::vector<float>(5, 1.5f)};
  EXPECT_TRUE(throws_status([&] { write_safetensors(p, f); }, VAE_ERROR_INVALID_ARGUMENT));
  f.tensors["bad"] = Tensor{{-2, -3}, std::vector<float>(6, 1.5f)};
  EXPECT_TRUE(throws_status([&] { write_safetensors(p, f); }, VAE_ERROR_INVALID_ARGUMENT));
  f.tensors.erase("bad");
  f.tensors["__metadata__"] = random_tensor({2}, 31);
  EXPECT_TRUE(throws_status([&] { write_safetensors(p, f); }, VAE_ERROR_INVALID_ARGUMENT));
  f.tensors.erase("__metadata__");
  f.metadata["bad"] = "\xff\xfe";
  EXPECT_TRUE(throws_status([&] { write_safetensors(p, f); }, VAE_ERROR_INVALID_ARGUMENT));
  EXPECT_TRUE(directory_entries().empty());
}

}  // namespace
}  // namespace vae
