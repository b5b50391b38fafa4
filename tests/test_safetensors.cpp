// Tests for impl/io/safetensors and impl/io/atomic_file: round trips, byte-exact agreement
// with the reference Python writer, one test per malformed-input rejection, atomic-write
// guarantees, and a cross-check that Python's safetensors can read what we write.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "temp_dir.h"

#ifndef VAE_PYTHON
#define VAE_PYTHON ""
#endif
#ifndef VAE_SOURCE_DIR
#define VAE_SOURCE_DIR ""
#endif

namespace fs = std::filesystem;
using namespace vae;

namespace {

using vae::testing::TempDir;

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An 8-byte length + header + buffer image, without the padding, to feed the parser.
std::vector<uint8_t> image(const std::string& header, const std::vector<uint8_t>& buffer = {}) {
  std::vector<uint8_t> out(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

// Parses and returns the vae::Error message ("" if parsing succeeded).
std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Asserts the header is rejected with a one-line message naming the file and `phrase`.
#define EXPECT_REJECTED(bytes, phrase)                                        \
  do {                                                                        \
    std::string msg_ = parse_error(bytes);                                    \
    EXPECT_EQ(msg_.rfind("bad.safetensors: ", 0), 0u) << msg_;                \
    EXPECT_NE(msg_.find(phrase), std::string::npos) << "message: " << msg_;   \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << msg_;                    \
  } while (0)

std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

SafetensorsFile sample_file() {
  SafetensorsFile f;
  double scalar = 3.25;
  float m[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
  int64_t ids[2] = {-5, int64_t{1} << 40};
  int32_t small[2] = {-1, 123456};
  uint8_t pixels[5] = {0, 1, 127, 128, 255};
  f.tensors.push_back(Tensor::from("scalar", {}, &scalar));
  f.tensors.push_back(Tensor::from("enc.w", {2, 3}, m));
  f.tensors.push_back(Tensor::from<float>("empty", {0, 3}, nullptr));
  f.tensors.push_back(Tensor::from("ids", {2}, ids));
  f.tensors.push_back(Tensor::from("small", {1, 1, 2}, small));
  f.tensors.push_back(Tensor::from("pixels", {5}, pixels));
  Tensor half{"half", DType::F16, {3}, {0x00, 0x3e, 0x00, 0xc0, 0x01, 0x00}};  // 1.5, -2, 2^-24
  Tensor bf{"bf", DType::BF16, {2}, {0x80, 0x3f, 0x40, 0xc0}};              // 1.0, -3.0
  f.tensors.push_back(half);
  f.tensors.push_back(bf);
  f.metadata = {{"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\"\n"}};
  return f;
}

}  // namespace

// ---------------------------------------------------------------- round trip

TEST(Safetensors, RoundTripPreservesEverything) {
  TempDir dir;
  SafetensorsFile in = sample_file();
  write_safetensors(dir.file("m.safetensors"), in);
  SafetensorsFile out = read_safetensors(dir.file("m.safetensors"));

  EXPECT_EQ(out.metadata, in.metadata);
  ASSERT_EQ(out.tensors.size(), in.tensors.size());
  for (size_t i = 0; i < in.tensors.size(); ++i) {  // order preserved: it is the buffer order
    EXPECT_EQ(out.tensors[i].name, in.tensors[i].name);
    EXPECT_EQ(out.tensors[i].dtype, in.tensors[i].dtype) << in.tensors[i].name;
    EXPECT_EQ(out.tensors[i].shape, in.tensors[i].shape) << in.tensors[i].name;
    EXPECT_EQ(out.tensors[i].bytes, in.tensors[i].bytes) << in.tensors[i].name;
  }
  EXPECT_EQ(out.at("scalar").numel(), 1u);
  EXPECT_EQ(out.at("scalar").to_double(), std::vector<double>{3.25});
  EXPECT_EQ(out.at("empty").numel(), 0u);
  EXPECT_TRUE(out.at("empty").to_double().empty());
  EXPECT_EQ(out.at("enc.w").to_double(), (std::vector<double>{1, -2, 3.5, 0, double(1e-3f), -7}));
  EXPECT_EQ(out.at("ids").to_double(), (std::vector<double>{-5, double(int64_t{1} << 40)}));
  EXPECT_EQ(out.at("small").to_double(), (std::vector<double>{-1, 123456}));
  EXPECT_EQ(out.at("pixels").to_double(), (std::vector<double>{0, 1, 127, 128, 255}));
  EXPECT_EQ(out.at("half").to_double(), (std::vector<double>{1.5, -2, std::ldexp(1.0, -24)}));
  EXPECT_EQ(out.at("bf").to_double(), (std::vector<double>{1, -3}));
  EXPECT_EQ(out.find("nope"), nullptr);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"m.safetensors"});  // no temp files left
}

TEST(Safetensors, EmptyFileRoundTrips) {
  TempDir dir;
  write_safetensors(dir.file("e.safetensors"), SafetensorsFile{});
  EXPECT_EQ(slurp(dir.file("e.safetensors")), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  SafetensorsFile out = read_safetensors(dir.file("e.safetensors"));
  EXPECT_TRUE(out.tensors.empty());
  EXPECT_TRUE(out.metadata.empty());
}

TEST(Safetensors, AtListsAvailableNames) {
  SafetensorsFile f = sample_file();
  f.source = "model.safetensors";
  try {
    f.at("decoder.w");
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.safetensors: no tensor named \"decoder.w\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"scalar\", \"enc.w\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("+3 more"), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------- byte-exact vs. reference

// Produced by the reference writer (safetensors 0.8.0, Python):
//   save({'b': np.array([[1,2,3]], np.int64), 'a': np.array([1.,2.], np.float32)}, metadata={'k':'v'})
// The reference orders tensors by dtype alignment then name; we give the same order.
const char* kPythonWithMetadata =
    "90000000000000007b225f5f6d657461646174615f5f223a7b226b223a2276227d2c2262223a7b226474797065223a22"
    "493634222c227368617065223a5b312c335d2c22646174615f6f666673657473223a5b302c32345d7d2c2261223a7b22"
    "6474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b32342c33325d7d"
    "7d202020202020200100000000000000020000000000000003000000000000000000803f00000040";
//   save({'s': np.array(5.0), 'a': np.zeros((0,3), np.float32), 'u': np.array([7,8,9], np.uint8)})
const char* kPythonScalarAndEmpty =
    "a8000000000000007b2273223a7b226474797065223a22463634222c227368617065223a5b5d2c22646174615f6f6666"
    "73657473223a5b302c385d7d2c2261223a7b226474797065223a22463332222c227368617065223a5b302c335d2c2264"
    "6174615f6f666673657473223a5b382c385d7d2c2275223a7b226474797065223a225538222c227368617065223a5b33"
    "5d2c22646174615f6f666673657473223a5b382c31315d7d7d202020202020200000000000001440070809";

TEST(Safetensors, BytesMatchPythonReferenceWithMetadata) {
  int64_t b[3] = {1, 2, 3};
  float a[2] = {1, 2};
  SafetensorsFile f;
  f.tensors.push_back(Tensor::from("b", {1, 3}, b));
  f.tensors.push_back(Tensor::from("a", {2}, a));
  f.metadata["k"] = "v";
  EXPECT_EQ(serialize_safetensors(f, "x"), from_hex(kPythonWithMetadata));

  TempDir dir;  // the file path goes through the same header code, but check the file too
  write_safetensors(dir.file("x.safetensors"), f);
  std::vector<uint8_t> expect = from_hex(kPythonWithMetadata);
  EXPECT_EQ(slurp(dir.file("x.safetensors")), std::string(expect.begin(), expect.end()));
}

TEST(Safetensors, BytesMatchPythonReferenceScalarAndEmpty) {
  double s = 5.0;
  uint8_t u[3] = {7, 8, 9};
  SafetensorsFile f;
  f.tensors.push_back(Tensor::from("s", {}, &s));
  f.tensors.push_back(Tensor::from<float>("a", {0, 3}, nullptr));
  f.tensors.push_back(Tensor::from("u", {3}, u));
  EXPECT_EQ(serialize_safetensors(f, "x"), from_hex(kPythonScalarAndEmpty));
}

TEST(Safetensors, ReadsPythonReferenceFile) {
  std::vector<uint8_t> bytes = from_hex(kPythonWithMetadata);
  SafetensorsFile f = parse_safetensors(bytes.data(), bytes.size(), "py");
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"k", "v"}}));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.at("b").dtype, DType::I64);
  EXPECT_EQ(f.at("b").shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(f.at("b").to_double(), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(f.at("a").to_double(), (std::vector<double>{1, 2}));
}

// ---------------------------------------------------------------- writer rejections

TEST(Safetensors, WriterRejectsBadInputWithoutCreatingFile) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  float v[2] = {1, 2};
  auto expect_write_error = [&](const SafetensorsFile& f, const std::string& phrase) {
    try {
      write_safetensors(path, f);
      ADD_FAILURE() << "expected vae::Error containing " << phrase;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(phrase), std::string::npos) << msg;
    }
    EXPECT_TRUE(dir.listing().empty());
  };
  SafetensorsFile dup;
  dup.tensors = {Tensor::from("w", {2}, v), Tensor::from("w", {2}, v)};
  expect_write_error(dup, "duplicate tensor name \"w\"");
  SafetensorsFile reserved;
  reserved.tensors = {Tensor::from("__metadata__", {2}, v)};
  expect_write_error(reserved, "reserved");
  SafetensorsFile short_bytes;
  short_bytes.tensors = {Tensor::from("w", {2}, v)};
  short_bytes.tensors[0].bytes.pop_back();
  expect_write_error(short_bytes, "has 7 bytes but dtype F32 with shape [2] needs 8");
  SafetensorsFile negative;
  negative.tensors = {Tensor{"w", DType::F32, {-1}, {}}};
  expect_write_error(negative, "negative dimension");
}

// ---------------------------------------------------------------- malformed input, one per case

TEST(SafetensorsMalformed, ShorterThanLengthField) {
  EXPECT_REJECTED(std::vector<uint8_t>(5, 0), "5 bytes, too short");
  EXPECT_REJECTED(std::vector<uint8_t>{}, "0 bytes, too short");
}

TEST(SafetensorsMalformed, HeaderLengthPastEndOfFile) {
  std::vector<uint8_t> bytes = image("{}");
  bytes[0] = 50;  // claims 50 header bytes, has 2
  EXPECT_REJECTED(bytes, "header length 50 exceeds the 2 bytes after the length field");
}

TEST(SafetensorsMalformed, HeaderLengthOver100MB) {
  std::vector<uint8_t> bytes = image("{}");
  bytes[4] = 1;  // 2^32 + 2
  EXPECT_REJECTED(bytes, "exceeds the 100 MB limit");
  std::fill(bytes.begin(), bytes.begin() + 8, 0xff);  // 2^64 - 1: must not overflow size math
  EXPECT_REJECTED(bytes, "exceeds the 100 MB limit");
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  EXPECT_REJECTED(image("{\"a\":"), "header is not valid JSON");
  EXPECT_REJECTED(image(""), "header is not valid JSON");
  EXPECT_REJECTED(image("{}\n\x01garbage"), "header is not valid JSON");
  EXPECT_REJECTED(image("{\"\xff\xfe\":1}"), "header is not valid JSON");  // invalid UTF-8
}

TEST(SafetensorsMalformed, HeaderNotObject) {
  EXPECT_REJECTED(image("[1,2]"), "header is not a JSON object");
  EXPECT_REJECTED(image("\"x\""), "header is not a JSON object");
}

TEST(SafetensorsMalformed, HeaderTooDeep) {
  EXPECT_REJECTED(image("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}"), "nests deeper");
}

TEST(SafetensorsMalformed, DuplicateKeys) {
  std::string e = entry("\"U8\"", "[1]", "[0,1]");
  EXPECT_REJECTED(image("{\"t\":" + e + ",\"t\":" + e + "}", {0}), "duplicate key \"t\"");
  EXPECT_REJECTED(image("{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", {0}),
                  "duplicate key \"dtype\"");
}

TEST(SafetensorsMalformed, EntryNotObject) {
  EXPECT_REJECTED(image("{\"t\":[1]}"), "tensor \"t\": entry is not a JSON object");
}

TEST(SafetensorsMalformed, MissingFields) {
  EXPECT_REJECTED(image("{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}", {0}), "missing field \"dtype\"");
  EXPECT_REJECTED(image("{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", {0}), "missing field \"shape\"");
  EXPECT_REJECTED(image("{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", {0}), "missing field \"data_offsets\"");
}

TEST(SafetensorsMalformed, WrongFieldTypes) {
  EXPECT_REJECTED(image("{\"t\":" + entry("7", "[1]", "[0,1]") + "}", {0}), "\"dtype\" is not a string");
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "1", "[0,1]") + "}", {0}), "\"shape\" is not an array");
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[1.5]", "[0,1]") + "}", {0}), "non-integer 1.5");
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[\"1\"]", "[0,1]") + "}", {0}), "non-integer");
  for (const char* bad : {"[0]", "[0,1,2]", "{}", "[0,\"1\"]", "[-1,0]", "[0,1.0]", "[0,1e30]"}) {
    EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[1]", bad) + "}", {0}),
                    "\"data_offsets\" is not [begin, end] with non-negative integers");
  }
}

TEST(SafetensorsMalformed, UnknownDtype) {
  EXPECT_REJECTED(image("{\"t\":" + entry("\"F8_E4M3\"", "[1]", "[0,1]") + "}", {0}),
                  "unknown or unsupported dtype \"F8_E4M3\"");
  EXPECT_REJECTED(image("{\"t\":" + entry("\"f32\"", "[1]", "[0,4]") + "}", {0, 0, 0, 0}), "unsupported dtype");
}

TEST(SafetensorsMalformed, NegativeDimension) {
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[3,-2]", "[0,0]") + "}"), "negative dimension -2 in shape");
}

TEST(SafetensorsMalformed, OverflowingNumel) {
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[4294967296,4294967296]", "[0,0]") + "}"),
                  "overflows the element count");
  // numel fits but numel * 8 bytes does not
  EXPECT_REJECTED(image("{\"t\":" + entry("\"F64\"", "[4611686018427387904]", "[0,0]") + "}"),
                  "overflows the element count");
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[18446744073709551615]", "[0,0]") + "}"), "too large");
}

TEST(SafetensorsMalformed, OffsetsBeginAfterEnd) {
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[1]", "[2,1]") + "}", {0, 0}), "data_offsets [2,1] has begin > end");
}

TEST(SafetensorsMalformed, OffsetsPastBuffer) {
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[4]", "[0,4]") + "}", {0, 0}),
                  "data_offsets [0,4] runs past the end of the 2-byte data buffer");
  EXPECT_REJECTED(image("{\"t\":" + entry("\"U8\"", "[1]", "[18446744073709551615,18446744073709551615]") + "}"),
                  "runs past the end");
}

TEST(SafetensorsMalformed, OffsetsSizeMismatch) {
  EXPECT_REJECTED(image("{\"t\":" + entry("\"F32\"", "[2]", "[0,4]") + "}", {0, 0, 0, 0}),
                  "data_offsets [0,4] spans 4 bytes but dtype F32 with shape [2] needs 8");
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  std::string h = "{\"a\":" + entry("\"U8\"", "[3]", "[0,3]") + ",\"b\":" + entry("\"U8\"", "[2]", "[2,4]") + "}";
  EXPECT_REJECTED(image(h, {0, 0, 0, 0}), "tensors \"a\" and \"b\" overlap in the data buffer");
  // A zero-size tensor strictly inside another one also overlaps it.
  h = "{\"a\":" + entry("\"U8\"", "[4]", "[0,4]") + ",\"z\":" + entry("\"U8\"", "[0]", "[2,2]") + "}";
  EXPECT_REJECTED(image(h, {0, 0, 0, 0}), "overlap");
}

TEST(SafetensorsMalformed, HoleInBuffer) {
  std::string h = "{\"a\":" + entry("\"U8\"", "[1]", "[0,1]") + ",\"b\":" + entry("\"U8\"", "[1]", "[2,3]") + "}";
  EXPECT_REJECTED(image(h, {0, 0, 0}), "hole in the data buffer: bytes [1,2) belong to no tensor");
  EXPECT_REJECTED(image("{\"b\":" + entry("\"U8\"", "[1]", "[1,2]") + "}", {0, 0}), "hole in the data buffer: bytes [0,1)");
}

TEST(SafetensorsMalformed, TrailingUncoveredBytes) {
  EXPECT_REJECTED(image("{\"a\":" + entry("\"U8\"", "[1]", "[0,1]") + "}", {0, 0, 0}),
                  "data buffer has 2 trailing bytes not covered by any tensor");
  EXPECT_REJECTED(image("{}", {0}), "1 trailing bytes");
}

TEST(SafetensorsMalformed, MetadataNotStrings) {
  EXPECT_REJECTED(image("{\"__metadata__\":{\"epoch\":3}}"), "metadata value for key \"epoch\" is not a string");
  EXPECT_REJECTED(image("{\"__metadata__\":{\"a\":\"ok\",\"b\":null}}"), "metadata value for key \"b\"");
  EXPECT_REJECTED(image("{\"__metadata__\":[\"a\"]}"), "\"__metadata__\" is not a JSON object");
}

TEST(SafetensorsMalformed, AcceptsEdgeCasesTheSpecAllows) {
  // Zero-size tensors at the same offset as a neighbour, null metadata, unknown extra fields.
  std::string h = "{\"__metadata__\":null,\"z\":" + entry("\"F32\"", "[0]", "[0,0]") +
                  ",\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"extra\":1}," +
                  "\"y\":" + entry("\"I64\"", "[5,0]", "[2,2]") + "}   ";
  EXPECT_EQ(parse_error(image(h, {9, 8})), "");
  std::vector<uint8_t> bytes = image(h, {9, 8});
  SafetensorsFile f = parse_safetensors(bytes.data(), bytes.size(), "ok");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].name, "z");  // sorted by offset, zero-size first
  EXPECT_EQ(f.at("a").bytes, (std::vector<uint8_t>{9, 8}));
}

TEST(SafetensorsMalformed, ReadErrorsNameThePath) {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  try {
    read_safetensors(missing);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open: No such file or directory");
  }
  const std::string bad = dir.file("bad.safetensors");
  spit(bad, "abc");
  try {
    read_safetensors(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), bad + ": file is 3 bytes, too short for the 8-byte header length");
  }
}

// Poor man's fuzzing: every truncation and every single-byte corruption of a valid file must
// either parse or throw vae::Error; anything else (crash, other exception) fails the test,
// and ASan/UBSan watch for memory errors.
TEST(SafetensorsMalformed, TruncationsAndBitFlipsOnlyThrowVaeError) {
  std::vector<uint8_t> good = serialize_safetensors(sample_file(), "x");
  for (size_t len = 0; len <= good.size(); ++len) {
    try {
      parse_safetensors(good.data(), len, "t");
      EXPECT_EQ(len, good.size());
    } catch (const Error&) {
    }
  }
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= flip;
      try {
        parse_safetensors(bad.data(), bad.size(), "t");
      } catch (const Error&) {
      }
    }
  }
}

// ---------------------------------------------------------------- atomic writes

TEST(AtomicFile, ReplacesContentAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("out.txt");
  spit(path, "old");
  write_file_atomically(path, [](std::ostream& os) { os << "new content"; });
  EXPECT_EQ(slurp(path), "new content");
  const std::string big(1 << 20, 'x');  // larger than the stream buffer
  write_file_atomically(path, big.data(), big.size());
  EXPECT_EQ(slurp(path), big);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.txt"});
}

TEST(AtomicFile, ThrowingWriterLeavesTargetUnchanged) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  spit(path, "precious");
  try {
    write_file_atomically(path, [](std::ostream& os) {
      os << std::string(200000, 'y');  // some bytes really reach the temp file first
      throw std::runtime_error("simulated failure");
    });
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": write failed: simulated failure");
  }
  EXPECT_EQ(slurp(path), "precious");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.safetensors"});

  // Non-std exceptions pass through unchanged but still clean up.
  EXPECT_THROW(write_file_atomically(path, [](std::ostream&) { throw 42; }), int);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.safetensors"});
}

TEST(AtomicFile, MissingDirectoryNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/out.safetensors");
  try {
    write_safetensors(path, sample_file());
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  EXPECT_TRUE(dir.listing().empty());
}

TEST(AtomicFile, RenameFailureRemovesTempFile) {
  TempDir dir;
  const std::string path = dir.file("target");
  fs::create_directories(path + "/occupied");  // rename() cannot replace a non-empty directory
  try {
    write_file_atomically(path, [](std::ostream& os) { os << "x"; });
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": cannot rename temporary file into place: ", 0), 0u) << msg;
  }
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"target"});
}

TEST(AtomicFile, WriterLeavingStreamBadIsAnError) {
  TempDir dir;
  const std::string path = dir.file("f");
  try {
    write_file_atomically(path, [](std::ostream& os) { os.setstate(std::ios::badbit); });
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": write failed: stream error");
  }
  EXPECT_TRUE(dir.listing().empty());
}

// A real write() failure: RLIMIT_FSIZE makes writes past 4 KiB fail with EFBIG (SIGXFSZ
// ignored), standing in for a full disk. The strerror text must reach the message.
TEST(AtomicFile, WriteErrorIsReportedWithStrerror) {
  TempDir dir;
  const std::string path = dir.file("f");
  spit(path, "old");
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    const std::string big(1 << 20, 'z');
    write_file_atomically(path, big.data(), big.size());
  } catch (const Error& e) {
    msg = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(msg, path + ": write failed: " + std::strerror(EFBIG));
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"f"});
}

// ---------------------------------------------------------------- Python cross-check

TEST(SafetensorsPython, ReferenceLibraryReadsOurFile) {
  const std::string python = VAE_PYTHON;
  const std::string script = std::string(VAE_SOURCE_DIR) + "/tests/safetensors_python_check.py";
  if (python.empty()) GTEST_SKIP() << "VAE_PYTHON not set at build time; cannot cross-check with Python safetensors";
  if (std::system(("'" + python + "' -c 'import numpy, safetensors.numpy' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import numpy + safetensors; install them to run this cross-check";
  }
  ASSERT_TRUE(fs::exists(script)) << script << " not found (VAE_SOURCE_DIR wrong?)";

  TempDir dir;
  SafetensorsFile f = sample_file();
  f.tensors.pop_back();  // numpy has no bfloat16
  write_safetensors(dir.file("m.safetensors"), f);

  nlohmann::json expect;
  expect["metadata"] = f.metadata;
  auto add = [&](const std::string& name, const char* dtype, nlohmann::json shape, nlohmann::json values) {
    expect["tensors"][name] = {{"dtype", dtype}, {"shape", shape}, {"values", values}};
  };
  add("scalar", "float64", nlohmann::json::array(), {3.25});
  add("enc.w", "float32", {2, 3}, {1.0, -2.0, 3.5, 0.0, double(1e-3f), -7.0});
  add("empty", "float32", {0, 3}, nlohmann::json::array());
  add("ids", "int64", {2}, {-5, int64_t{1} << 40});
  add("small", "int32", {1, 1, 2}, {-1, 123456});
  add("pixels", "uint8", {5}, {0, 1, 127, 128, 255});
  add("half", "float16", {3}, {1.5, -2.0, std::ldexp(1.0, -24)});
  std::ofstream(dir.file("expect.json")) << expect.dump();

  const std::string cmd = "'" + python + "' '" + script + "' '" + dir.file("m.safetensors") + "' '" +
                          dir.file("expect.json") + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;

  // And the script must be able to fail: a wrong expectation is caught.
  expect["metadata"]["format"] = "np";
  std::ofstream(dir.file("expect.json")) << expect.dump();
  EXPECT_NE(std::system((cmd + " 2>/dev/null").c_str()), 0) << cmd;
}
