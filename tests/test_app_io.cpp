// vae-train's data readers: the IDX and .npy readers on good and malformed
// files, and the loader telling formats apart. Every file is made here, in a
// fresh temporary directory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "app_io_fixture.h"
#include "data_file_error.h"
#include "data_loader.h"
#include "data_matrix.h"
#include "idx_reader.h"
#include "npy_reader.h"

namespace {

using namespace app_io_test;
using vae_app::ElementType;

std::vector<float> random_floats(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> values(count);
  for (auto& value : values) value = normal(generator);
  return values;
}

Bytes float_bytes(const std::vector<float>& values) {
  Bytes bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

void append_big_endian(Bytes& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

Bytes idx_file(std::uint8_t type_code, const std::vector<std::uint32_t>& dims,
               const Bytes& payload) {
  Bytes bytes{0, 0, type_code, static_cast<std::uint8_t>(dims.size())};
  for (const auto extent : dims) append_big_endian(bytes, extent);
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

// A .npy file of format version major.0: header dict padded with spaces and
// a newline so the data starts at a multiple of 64, as numpy writes it.
Bytes npy_file(int major, const std::string& dict, const Bytes& payload) {
  const std::size_t length_size = major == 1 ? 2 : 4;
  const std::size_t preamble = 8 + length_size;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  Bytes bytes{0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  for (std::size_t i = 0; i < length_size; ++i) {
    bytes.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  }
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}


// ---- IDX -------------------------------------------------------------------

TEST_F(AppIoTest, IdxReadsRawImagesExactly) {
  const Bytes values = random_bytes(7 * 5 * 6, 11);
  const std::string file = write_file("images-idx3-ubyte", idx_file(0x08, {7, 5, 6}, values));
  const DataMatrix data = vae_app::read_idx_file(file);
  EXPECT_EQ(data.type, ElementType::uint8);
  EXPECT_EQ(data.rows, 7);
  EXPECT_EQ(data.dim, 30);
  EXPECT_EQ(data.bytes, values);
  EXPECT_TRUE(data.floats.empty());
}

TEST_F(AppIoTest, IdxReadsGzipImagesExactly) {
  const Bytes values = random_bytes(13 * 28 * 28, 12);
  const std::string file =
      write_gzip_file("images-idx3-ubyte.gz", idx_file(0x08, {13, 28, 28}, values));
  const DataMatrix data = vae_app::read_idx_file(file);
  EXPECT_EQ(data.rows, 13);
  EXPECT_EQ(data.dim, 784);
  EXPECT_EQ(data.bytes, values);
}

TEST_F(AppIoTest, IdxReadsLabelsAsRowsOfOneByte) {
  const Bytes values = random_bytes(100, 13);
  const DataMatrix data =
      vae_app::read_idx_file(write_file("labels-idx1-ubyte", idx_file(0x08, {100}, values)));
  EXPECT_EQ(data.rows, 100);
  EXPECT_EQ(data.dim, 1);
  EXPECT_EQ(data.bytes, values);
}

TEST_F(AppIoTest, IdxReadsConcatenatedGzipMembers) {
  const Bytes values = random_bytes(4 * 9, 14);
  const Bytes whole = idx_file(0x08, {4, 9}, values);
  const Bytes first(whole.begin(), whole.begin() + 10);
  const Bytes second(whole.begin() + 10, whole.end());
  Bytes members = gzip_bytes(first);
  const Bytes tail = gzip_bytes(second);
  members.insert(members.end(), tail.begin(), tail.end());
  const DataMatrix data = vae_app::read_idx_file(write_file("members.gz", members));
  EXPECT_EQ(data.bytes, values);
}

TEST_F(AppIoTest, IdxRefusesEveryMalformedFile) {
  const Reader read = vae_app::read_idx_file;
  const Bytes values = random_bytes(3 * 4 * 4, 15);
  const Bytes good = idx_file(0x08, {3, 4, 4}, values);

  expect_refused(read, path("missing"), "cannot open");
  expect_refused(read, directory_.string(), "is a directory");
  expect_refused(read, write_file("empty", {}), "file is empty");
  expect_refused(read, write_file("short", {0, 0, 8}), "truncated IDX header");
  expect_refused(read, write_file("magic", {'P', 'K', 3, 4, 0, 0, 0, 0}), "bad magic number");
  expect_refused(read, write_file("float", idx_file(0x0D, {3, 4}, Bytes(48))),
                 "unsupported IDX element type 0x0d (float32)");
  expect_refused(read, write_file("unknown_type", idx_file(0x42, {3}, Bytes(3))),
                 "unknown IDX type code 0x42");
  expect_refused(read, write_file("no_dims", {0, 0, 8, 0, 1, 2}), "0 dimensions");
  expect_refused(read, write_file("cut_dims", Bytes(good.begin(), good.begin() + 9)),
                 "truncated IDX header");
  expect_refused(read, write_file("overflow", idx_file(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF}, {})),
                 "dimensions overflow");
  expect_refused(read, write_file("zero_dim", idx_file(0x08, {3, 0, 4}, {})), "dimension 1 is 0");
  expect_refused(read, write_file("truncated", Bytes(good.begin(), good.end() - 1)),
                 "truncated: dimensions 3x4x4 need 48 bytes of data, the file has 47");
  Bytes garbage = good;
  garbage.push_back(7);
  expect_refused(read, write_file("garbage", garbage), "1 bytes of trailing garbage");
  expect_refused(read, write_gzip_file("truncated.gz", Bytes(good.begin(), good.end() - 5)),
                 "truncated: dimensions");
}

TEST_F(AppIoTest, IdxRefusesBrokenGzip) {
  const Reader read = vae_app::read_idx_file;
  const Bytes good = gzip_bytes(idx_file(0x08, {50, 8, 8}, random_bytes(50 * 64, 16)));

  Bytes bad_checksum = good;
  bad_checksum[bad_checksum.size() - 8] ^= 0xFF;  // the CRC-32 in the trailer
  expect_refused(read, write_file("crc.gz", bad_checksum), "corrupt gzip data");
  Bytes bad_method = good;
  bad_method[2] = 7;  // compression method: only 8 (deflate) exists
  expect_refused(read, write_file("method.gz", bad_method), "corrupt gzip data");
  expect_refused(read, write_file("cut.gz", Bytes(good.begin(), good.end() - 20)),
                 "truncated gzip stream");
  expect_refused(read, write_file("magic_only.gz", {0x1f, 0x8b}), "truncated gzip stream");
  Bytes trailing = good;
  trailing.insert(trailing.end(), {'j', 'u', 'n', 'k'});
  expect_refused(read, write_file("trailing.gz", trailing),
                 "4 bytes of trailing garbage after the gzip stream");
  expect_refused(read, write_file("nothing.gz", gzip_bytes({})), "decompresses to nothing");
}

// ---- .npy ------------------------------------------------------------------

TEST_F(AppIoTest, NpyReadsVersion1Bytes) {
  const Bytes values = random_bytes(9 * 12, 21);
  for (const std::string descr : {"|u1", "<u1"}) {
    const std::string file = write_file(
        "bytes.npy",
        npy_file(1, "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (9, 3, 4), }",
                 values));
    const DataMatrix data = vae_app::read_npy_file(file);
    EXPECT_EQ(data.type, ElementType::uint8) << descr;
    EXPECT_EQ(data.rows, 9);
    EXPECT_EQ(data.dim, 12);
    EXPECT_EQ(data.bytes, values);
  }
}

TEST_F(AppIoTest, NpyReadsVersion2And3Floats) {
  const std::vector<float> values = random_floats(6 * 10, 22);
  for (const int major : {2, 3}) {
    const std::string file =
        write_file("floats.npy",
                   npy_file(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 10), }",
                            float_bytes(values)));
    const DataMatrix data = vae_app::read_npy_file(file);
    EXPECT_EQ(data.type, ElementType::float32) << major;
    EXPECT_EQ(data.rows, 6);
    EXPECT_EQ(data.dim, 10);
    EXPECT_EQ(data.floats, values);
    EXPECT_TRUE(data.bytes.empty());
  }
}

TEST_F(AppIoTest, NpyReadsOneDimensionAnyKeyOrderAndGzip) {
  const std::vector<float> values = random_floats(17, 23);
  const Bytes file_bytes = npy_file(
      1, "{\"shape\": (17,), \"fortran_order\": False, \"descr\": \"<f4\"}", float_bytes(values));
  for (const std::string& file :
       {write_file("vector.npy", file_bytes), write_gzip_file("vector.npy.gz", file_bytes)}) {
    const DataMatrix data = vae_app::read_npy_file(file);
    EXPECT_EQ(data.rows, 17);
    EXPECT_EQ(data.dim, 1);
    EXPECT_EQ(data.floats, values);
  }
}

TEST_F(AppIoTest, NpyRefusesEveryMalformedFile) {
  const Reader read = vae_app::read_npy_file;
  const Bytes payload = random_bytes(4 * 6, 24);
  const auto npy = [&](const std::string& name, const std::string& dict,
                       const Bytes& data = Bytes(24)) {
    return write_file(name, npy_file(1, dict, data));
  };
  const std::string good_dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 6), }";
  const Bytes good = npy_file(1, good_dict, payload);

  expect_refused(read, write_file("empty.npy", {}), "file is empty");
  expect_refused(read, write_file("magic.npy", {0x93, 'N', 'U', 'M', 'P', 'X', 1, 0, 0, 0}),
                 "bad magic");
  expect_refused(read, write_file("preamble.npy", Bytes(good.begin(), good.begin() + 9)),
                 "truncated .npy preamble");
  expect_refused(read, write_file("version4.npy", npy_file(4, good_dict, payload)),
                 "unsupported .npy format version 4.0");
  Bytes minor = good;
  minor[7] = 1;
  expect_refused(read, write_file("minor.npy", minor), "unsupported .npy format version 1.1");
  expect_refused(read, write_file("header.npy", Bytes(good.begin(), good.begin() + 40)),
                 "truncated .npy header");
  Bytes huge_header = npy_file(2, good_dict, payload);
  huge_header[8] = huge_header[9] = huge_header[10] = huge_header[11] = 0xF0;
  expect_refused(read, write_file("huge_header.npy", huge_header), "exceeds the limit");
  expect_refused(read, npy("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"),
                 "unsupported dtype '<f8'");
  expect_refused(read, npy("i4.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }"),
                 "unsupported dtype '<i4'");
  expect_refused(read, npy("be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }"),
                 "big-endian dtype");
  expect_refused(read,
                 npy("fortran.npy", "{'descr': '|u1', 'fortran_order': True, 'shape': (4, 6), }"),
                 "fortran_order True is not supported");
  expect_refused(read, npy("no_shape.npy", "{'descr': '|u1', 'fortran_order': False}"),
                 "the key 'shape' is missing");
  expect_refused(
      read,
      npy("twice.npy", "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (24,)}"),
      "key 'descr' appears twice");
  expect_refused(
      read, npy("extra.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (24,), 'x': 1}"),
      "unexpected key 'x'");
  expect_refused(read,
                 npy("syntax.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (4 6)}"),
                 "expected ',' or ')' in the shape");
  expect_refused(read, npy("bool.npy", "{'descr': '|u1', 'fortran_order': 0, 'shape': (24,)}"),
                 "expected True or False");
  expect_refused(read,
                 npy("after.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (24,)} x"),
                 "unexpected text after the closing '}'");
  expect_refused(read, npy("tuple.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (24)}"),
                 "needs a trailing comma");
  expect_refused(
      read, npy("scalar.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': ()}", Bytes(1)),
      "is a scalar");
  expect_refused(read, npy("zero.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 6)}"),
                 "has no elements");
  expect_refused(read,
                 npy("overflow.npy",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"),
                 "overflows");
  expect_refused(read,
                 npy("digits.npy",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"),
                 "shape dimension too large");
  expect_refused(read, write_file("truncated.npy", Bytes(good.begin(), good.end() - 1)),
                 "truncated: shape (4, 6) needs 24 bytes of data, the file has 23");
  Bytes garbage = good;
  garbage.insert(garbage.end(), {1, 2, 3});
  expect_refused(read, write_file("garbage.npy", garbage), "3 bytes of trailing garbage");
  std::vector<float> floats = random_floats(8, 25);
  floats[5] = std::nanf("");
  expect_refused(read,
                 npy("nan.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4)}",
                     float_bytes(floats)),
                 "non-finite value nan at row 1, column 1");
}

// ---- dispatch and row helpers ------------------------------------------------

TEST_F(AppIoTest, DataLoaderTellsFormatsApartByContent) {
  const Bytes values = random_bytes(5 * 4, 31);
  const DataMatrix idx =
      vae_app::read_data_file(write_gzip_file("a.npy", idx_file(0x08, {5, 4}, values)));
  EXPECT_EQ(idx.bytes, values);
  const DataMatrix npy = vae_app::read_data_file(write_file(
      "b.idx", npy_file(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (5, 4)}", values)));
  EXPECT_EQ(npy.bytes, values);
  expect_refused(vae_app::read_data_file, write_file("text.csv", {'1', ',', '2', '\n'}),
                 "not an IDX file");
}

TEST(AppDataMatrix, RowsAsFloatsScalesBytesAndSplitKeepsOrder) {
  DataMatrix data;
  data.type = ElementType::uint8;
  data.rows = 5;
  data.dim = 2;
  data.bytes = {0, 255, 51, 102, 1, 2, 3, 4, 5, 6};
  const std::vector<float> floats = vae_app::rows_as_floats(data, 1, 2);
  ASSERT_EQ(floats.size(), 4u);
  EXPECT_FLOAT_EQ(floats[0], 0.2f);
  EXPECT_FLOAT_EQ(floats[1], 0.4f);
  EXPECT_FLOAT_EQ(floats[2], 1.0f / 255.0f);
  EXPECT_THROW(vae_app::rows_as_floats(data, 4, 2), std::out_of_range);

  const DataMatrix tail = vae_app::split_off_last_rows(data, 2);
  EXPECT_EQ(data.rows, 3);
  EXPECT_EQ(data.bytes, (Bytes{0, 255, 51, 102, 1, 2}));
  EXPECT_EQ(tail.rows, 2);
  EXPECT_EQ(tail.dim, 2);
  EXPECT_EQ(tail.bytes, (Bytes{3, 4, 5, 6}));
}


}  // namespace
