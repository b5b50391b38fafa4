// Tests for impl/data: IDX parsing and its error messages, dataset identity, pixel conversion, SHA-256.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "mnist_data.h"
#include "common/error.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/pixels.h"
#include "data/sha256.h"

#ifndef VAE_SOURCE_DIR
#error "VAE_SOURCE_DIR must be defined as the repository root"
#endif

namespace vae {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

// ---- crafting IDX files ----

void put_be32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes out;
  put_be32(out, magic);
  for (uint32_t d : dims) put_be32(out, d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Pixel values vary so a gzip of them has a real deflate body to corrupt.
Bytes image_idx(uint32_t count, uint32_t rows = 28, uint32_t cols = 28) {
  Bytes pixels(size_t{count} * rows * cols);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  return idx_bytes(0x00000803, {count, rows, cols}, pixels);
}

Bytes label_idx(uint32_t count) {
  Bytes labels(count);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 10);
  return idx_bytes(0x00000801, {count}, labels);
}

// gzip container (windowBits 15 + 16), as the real distribution files use.
Bytes gzip(const Bytes& raw) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, raw.size()));
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

// Runs fn and returns the vae::Error message; fails the test if fn does not throw vae::Error.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-vae::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

class CraftedFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vae_test_data_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string write(const std::string& name, const Bytes& bytes) {
    write_file(path(name), bytes);
    return path(name);
  }

  // A valid gzipped set: 5 training and 3 test images.
  void write_valid_set() {
    write("train-images-idx3-ubyte.gz", gzip(image_idx(5)));
    write("train-labels-idx1-ubyte.gz", gzip(label_idx(5)));
    write("t10k-images-idx3-ubyte.gz", gzip(image_idx(3)));
    write("t10k-labels-idx1-ubyte.gz", gzip(label_idx(3)));
  }

  std::string dir_;
};

// Asserts that fn throws vae::Error whose message names `file` and contains `phrase`.
#define EXPECT_DATA_ERROR(fn, file, phrase)                                  \
  do {                                                                       \
    const std::string msg_ = error_of(fn);                                   \
    EXPECT_NE(msg_.find(file), std::string::npos) << msg_;                   \
    EXPECT_NE(msg_.find(phrase), std::string::npos) << msg_;                 \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << "multi-line: " << msg_; \
  } while (0)

// ---- IDX error handling ----

TEST_F(CraftedFiles, MissingFileCannotOpen) {
  const std::string p = path("nope.gz");
  EXPECT_DATA_ERROR([&] { read_idx(p); }, p, "cannot open");
}

TEST_F(CraftedFiles, MissingDatasetFileNamesBothCandidates) {
  write_valid_set();
  fs::remove(path("t10k-labels-idx1-ubyte.gz"));
  const std::string msg = error_of([&] { load_dataset(dir_, DatasetKind::Mnist); });
  EXPECT_EQ(msg, path("t10k-labels-idx1-ubyte.gz") + ": missing (also tried " + path("t10k-labels-idx1-ubyte") + ")");
}

TEST_F(CraftedFiles, TruncatedHeader) {
  const std::string p = write("short.gz", gzip({0x00, 0x00, 0x08}));
  EXPECT_DATA_ERROR([&] { read_idx(p); }, p, "truncated header");
  Bytes dims_cut = image_idx(1);
  dims_cut.resize(10);  // magic promises 3 dimensions, only 1.5 present
  const std::string q = write("short_dims", dims_cut);
  EXPECT_DATA_ERROR([&] { read_idx_images(q); }, q, "truncated header");
}

TEST_F(CraftedFiles, TruncatedData) {
  Bytes b = image_idx(2);
  b.resize(b.size() - 100);
  const std::string p = write("imgs.gz", gzip(b));
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "truncated: header promises 1568 bytes of data, file has 1468");
}

TEST_F(CraftedFiles, TrailingBytes) {
  Bytes b = label_idx(4);
  b.insert(b.end(), {1, 2, 3});
  const std::string p = write("labels.gz", gzip(b));
  EXPECT_DATA_ERROR([&] { read_idx_labels(p); }, p, "3 trailing bytes after data");
}

TEST_F(CraftedFiles, WrongMagic) {
  Bytes b = image_idx(1);
  std::swap(b[0], b[3]);  // little-endian magic 0x03080000
  std::swap(b[1], b[2]);
  const std::string p = write("imgs.gz", gzip(b));
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "wrong magic 0x03080000, expected 0x00000803");
}

TEST_F(CraftedFiles, UnsupportedTypeByte) {
  Bytes b = image_idx(1);
  b[2] = 0x0D;  // float
  const std::string p = write("imgs.gz", gzip(b));
  EXPECT_DATA_ERROR([&] { read_idx(p); }, p, "unsupported data type 0x0D");
}

TEST_F(CraftedFiles, WrongDimensionCount) {
  const std::string p = write("labels-as-images.gz", gzip(label_idx(3)));
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "wrong dimension count 1 (magic 0x00000801), expected 3");
  const std::string q = write("images-as-labels.gz", gzip(image_idx(3)));
  EXPECT_DATA_ERROR([&] { read_idx_labels(q); }, q, "wrong dimension count 3");
}

TEST_F(CraftedFiles, DimensionOverflowIsCaught) {
  const std::string p = write("huge", idx_bytes(0x00000803, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  EXPECT_DATA_ERROR([&] { read_idx(p); }, p, "overflow");
}

TEST_F(CraftedFiles, MismatchedImageAndLabelCounts) {
  write_valid_set();
  const std::string labels = write("train-labels-idx1-ubyte.gz", gzip(label_idx(4)));
  const std::string msg = error_of([&] { load_dataset(dir_, DatasetKind::Mnist); });
  EXPECT_EQ(msg, path("train-images-idx3-ubyte.gz") + " has 5 images but " + labels + " has 4 labels");
}

TEST_F(CraftedFiles, CorruptGzipGarbageAfterHeader) {
  Bytes b = gzip(image_idx(4));
  for (size_t i = 10; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 37 + 11);
  const std::string p = write("imgs.gz", b);
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "corrupt gzip data: ");
}

TEST_F(CraftedFiles, CorruptGzipFlippedBytesInDeflateStream) {
  Bytes b = gzip(image_idx(4));
  for (size_t i = b.size() / 2; i < b.size() / 2 + 4; ++i) b[i] ^= 0xFF;
  const std::string p = write("imgs.gz", b);
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "corrupt gzip data: ");
}

TEST_F(CraftedFiles, CorruptGzipCutShort) {
  Bytes b = gzip(image_idx(4));
  b.resize(b.size() / 2);
  const std::string p = write("imgs.gz", b);
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "corrupt gzip data: unexpected end of file");
}

TEST_F(CraftedFiles, WrongImageSize) {
  const std::string p = write("imgs.gz", gzip(image_idx(2, 32, 32)));
  EXPECT_DATA_ERROR([&] { read_idx_images(p); }, p, "images are 32x32, expected 28x28");
}

TEST_F(CraftedFiles, LabelOutOfRange) {
  Bytes b = label_idx(6);
  b[8 + 3] = 12;
  const std::string p = write("labels.gz", gzip(b));
  EXPECT_DATA_ERROR([&] { read_idx_labels(p); }, p, "label out of range at index 3: 12, expected 0..9");
}

TEST_F(CraftedFiles, GenericReaderKeepsHeaderFields) {
  const std::string p = write("imgs.gz", gzip(image_idx(2, 3, 4)));
  const IdxArray a = read_idx(p);
  EXPECT_EQ(a.magic, 0x00000803u);
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(a.data.size(), 24u);
}

TEST_F(CraftedFiles, RawFilesLoadLikeGzip) {
  const Bytes images = image_idx(3);
  const IdxImages from_raw = read_idx_images(write("raw", images));
  const IdxImages from_gz = read_idx_images(write("gz.gz", gzip(images)));
  EXPECT_EQ(from_raw.count, 3u);
  EXPECT_EQ(from_raw.pixels, from_gz.pixels);
  EXPECT_EQ(from_raw.pixels, Bytes(images.begin() + 16, images.end()));
}

TEST_F(CraftedFiles, ValidCraftedSetLoadsUnverified) {
  write_valid_set();
  // Mix in one raw file: .gz is preferred, the raw name is the fallback.
  fs::remove(path("t10k-images-idx3-ubyte.gz"));
  write("t10k-images-idx3-ubyte", image_idx(3));
  const Dataset ds = load_dataset(dir_, DatasetKind::FashionMnist);
  EXPECT_EQ(ds.identity, "unknown, unverified");
  EXPECT_FALSE(ds.verified);
  EXPECT_EQ(ds.train.count, 5u);
  EXPECT_EQ(ds.test.count, 3u);
  EXPECT_EQ(ds.train.dim(), 784u);
  EXPECT_EQ(ds.test.labels, (Bytes{0, 1, 2}));
  ASSERT_EQ(ds.files.size(), 4u);
  EXPECT_EQ(ds.files[2].path, path("t10k-images-idx3-ubyte"));
  std::string digests;
  for (const FileInfo& f : ds.files) {
    EXPECT_FALSE(f.known);
    EXPECT_EQ(f.sha256, sha256_hex_of_file(f.path));
    digests += f.sha256;
  }
  EXPECT_EQ(ds.combined_sha256, sha256_hex(digests.data(), digests.size()));
}

// ---- real datasets ----

using testing::mnist;

TEST(RealData, MnistLoadsAndIsVerified) {
  const Dataset& ds = mnist();
  EXPECT_EQ(ds.identity, "MNIST");
  EXPECT_TRUE(ds.verified);
  for (const FileInfo& f : ds.files) EXPECT_TRUE(f.known) << f.path;
  EXPECT_EQ(ds.train.count, 60000u);
  EXPECT_EQ(ds.test.count, 10000u);
  EXPECT_EQ(ds.train.rows, 28u);
  EXPECT_EQ(ds.train.cols, 28u);
  EXPECT_EQ(ds.test.dim(), 784u);
  EXPECT_EQ(ds.train.pixels.size(), 60000u * 784u);
  EXPECT_EQ(ds.test.labels.size(), 10000u);
  EXPECT_EQ(ds.train.labels[0], 5);
  std::array<size_t, 10> histogram{};
  for (uint8_t l : ds.train.labels) ++histogram[l];
  for (size_t c = 0; c < 10; ++c) {
    EXPECT_GE(histogram[c], 5000u) << "class " << c;
    EXPECT_LE(histogram[c], 7000u) << "class " << c;
  }
  EXPECT_EQ(ds.combined_sha256.size(), 64u);
}

TEST(RealData, FashionMnistIdentityAndWrongRequest) {
  if (!fs::is_directory(kFashionDir)) GTEST_SKIP() << kFashionDir << " is absent (Fashion-MNIST not installed)";
  const Dataset ds = load_dataset(kFashionDir, DatasetKind::FashionMnist);
  EXPECT_EQ(ds.identity, "Fashion-MNIST");
  EXPECT_TRUE(ds.verified);
  EXPECT_EQ(ds.train.count, 60000u);
  EXPECT_EQ(ds.test.count, 10000u);
  EXPECT_NE(ds.combined_sha256, mnist().combined_sha256);
  EXPECT_EQ(error_of([] { load_dataset(kFashionDir, DatasetKind::Mnist); }),
            std::string(kFashionDir) + ": --dataset mnist requested, but the files are Fashion-MNIST");
}

TEST(RealData, FashionRequestOnMnistFilesThrows) {
  const std::string dir = VAE_SOURCE_DIR "/data/mnist";
  EXPECT_EQ(error_of([&] { load_dataset(dir, DatasetKind::FashionMnist); }),
            dir + ": --dataset fashion-mnist requested, but the files are MNIST");
}

// ---- option parsing ----

TEST(Options, DatasetKindRoundTripsAndRejectsUnknown) {
  for (DatasetKind k : {DatasetKind::Mnist, DatasetKind::FashionMnist}) EXPECT_EQ(parse_dataset_kind(to_string(k)), k);
  EXPECT_DATA_ERROR([] { parse_dataset_kind("cifar"); }, "cifar", "mnist, fashion-mnist");
  EXPECT_EQ(default_data_dir(DatasetKind::Mnist), "data/mnist");
  EXPECT_EQ(default_data_dir(DatasetKind::FashionMnist), "/usr/share/datasets/fashion-mnist");
}

TEST(Options, BinarizeRoundTripsAndRejectsUnknown) {
  for (Binarize b : {Binarize::None, Binarize::Static, Binarize::Dynamic}) EXPECT_EQ(parse_binarize(to_string(b)), b);
  EXPECT_DATA_ERROR([] { parse_binarize("threshold"); }, "threshold", "none, static, dynamic");
}

// ---- pixels ----

Split tiny_split() {
  Split s;
  s.count = 2;
  s.rows = 1;
  s.cols = 3;
  s.pixels = {0, 128, 255, 7, 8, 9};
  s.labels = {0, 1};
  return s;
}

TEST(Pixels, ScalingIsExact) {
  const Split s = tiny_split();
  std::vector<float> f(6);
  gather_scaled(s, {1, 0}, f.data());  // gathers in index order, not storage order
  EXPECT_EQ(f, (std::vector<float>{7 / 255.f, 8 / 255.f, 9 / 255.f, 0.f, 128 / 255.f, 1.f}));
  std::vector<double> d(3);
  gather_scaled(s, {0}, d.data());
  EXPECT_EQ(d, (std::vector<double>{0.0, 128 / 255.0, 1.0}));
  EXPECT_THROW(gather_scaled(s, {2}, d.data()), std::out_of_range);
}

std::vector<size_t> first_n(size_t n) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

TEST(Pixels, StaticBinarizationIsFixedDynamicChangesPerEpoch) {
  const Split& train = mnist().train;
  const std::vector<size_t> idx = first_n(200);
  const size_t n = idx.size() * train.dim();
  std::vector<float> s0(n), s1(n), s0_again(n), d0(n), d1(n), other_seed(n);
  gather_binarized(train, idx, Binarize::Static, 42, 0, s0.data());
  gather_binarized(train, idx, Binarize::Static, 42, 1, s1.data());
  gather_binarized(train, idx, Binarize::Static, 42, 0, s0_again.data());
  gather_binarized(train, idx, Binarize::Static, 43, 0, other_seed.data());
  gather_binarized(train, idx, Binarize::Dynamic, 42, 0, d0.data());
  gather_binarized(train, idx, Binarize::Dynamic, 42, 1, d1.data());
  EXPECT_EQ(s0, s1);
  EXPECT_EQ(s0, s0_again);
  EXPECT_NE(s0, other_seed);
  EXPECT_NE(d0, d1);
  for (float v : d1) ASSERT_TRUE(v == 0.f || v == 1.f) << v;

  // A draw belongs to the image, not to its position in the batch.
  std::vector<float> single(train.dim());
  gather_binarized(train, {7}, Binarize::Dynamic, 42, 1, single.data());
  EXPECT_TRUE(std::equal(single.begin(), single.end(), d1.begin() + 7 * train.dim()));
}

TEST(Pixels, BinarizedMeanMatchesScaledMeanOnMnistTrain) {
  const Split& train = mnist().train;
  const std::vector<size_t> idx = first_n(train.count);
  std::vector<double> scaled(idx.size() * train.dim()), binary(scaled.size());
  gather_scaled(train, idx, scaled.data());
  gather_binarized(train, idx, Binarize::Dynamic, 1234, 5, binary.data());
  size_t ones = 0;
  for (double v : binary) {
    ASSERT_TRUE(v == 0.0 || v == 1.0) << v;
    ones += v == 1.0;
  }
  const double scaled_mean = std::accumulate(scaled.begin(), scaled.end(), 0.0) / scaled.size();
  const double binary_mean = static_cast<double>(ones) / binary.size();
  EXPECT_NEAR(scaled_mean, 0.1307, 0.001);  // the well-known MNIST training mean
  EXPECT_NEAR(binary_mean, scaled_mean, 0.01 * scaled_mean);
}

// ---- sha256 ----

TEST(Sha256, StandardTestVector) {
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(CraftedFiles, Sha256OfFileMatchesInMemoryAndReportsMissing) {
  const std::string p = write("abc", Bytes{'a', 'b', 'c'});
  EXPECT_EQ(sha256_hex_of_file(p), sha256_hex("abc", 3));
  const std::string missing = path("missing");
  EXPECT_EQ(error_of([&] { sha256_hex_of_file(missing); }), missing + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace vae
