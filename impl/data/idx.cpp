#include "data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "common/error.h"

namespace vae {
namespace {

constexpr uint8_t kUbyteType = 0x08;
// Far above any IDX dataset this suite uses; stops a gzip bomb or a wrong file from exhausting memory.
constexpr size_t kMaxDecompressedBytes = size_t{1} << 30;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

std::string hex8(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(v));
  return buf;
}

// zlib's messages are "<path>: <problem>"; drop the path since our messages lead with it already.
std::string zlib_problem(gzFile file, const std::string& path, int* errnum) {
  std::string msg = gzerror(file, errnum);
  const std::string prefix = path + ": ";
  if (msg.compare(0, prefix.size(), prefix) == 0) msg.erase(0, prefix.size());
  return msg;
}

// gzread passes non-gzip files through unchanged, so one code path serves .gz and raw files.
std::vector<uint8_t> read_decompressed(const std::string& path) {
  errno = 0;
  std::unique_ptr<gzFile_s, decltype(&gzclose)> file(gzopen(path.c_str(), "rb"), &gzclose);
  if (!file) throw Error(path + ": cannot open: " + (errno ? std::strerror(errno) : "out of memory"));
  gzbuffer(file.get(), 1 << 20);

  constexpr unsigned kChunk = 1 << 20;
  std::vector<uint8_t> bytes;
  for (;;) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + kChunk);
    const int n = gzread(file.get(), bytes.data() + old_size, kChunk);
    bytes.resize(old_size + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n <= 0) break;  // end of data, or an error that gzerror reports below
    if (bytes.size() > kMaxDecompressedBytes)
      throw Error(path + ": decompressed size exceeds the limit of " + std::to_string(kMaxDecompressedBytes) + " bytes");
  }
  int errnum = Z_OK;
  const std::string problem = zlib_problem(file.get(), path, &errnum);
  if (errnum == Z_ERRNO) throw Error(path + ": read error: " + problem);
  // A truncated stream leaves Z_BUF_ERROR ("unexpected end of file"); bad deflate data or CRC leaves Z_DATA_ERROR.
  if (errnum != Z_OK) throw Error(path + ": corrupt gzip data: " + problem);
  return bytes;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

constexpr int kAnyDimCount = -1;

// expected_dims is the dimension count the caller requires, or kAnyDimCount.
IdxArray parse_idx(const std::string& path, std::vector<uint8_t> bytes, int expected_dims) {
  const std::string expected_magic =
      expected_dims == kAnyDimCount ? "0x000008NN" : hex32(0x800u | static_cast<uint32_t>(expected_dims));
  if (bytes.size() < 4)
    throw Error(path + ": truncated header: file has " + std::to_string(bytes.size()) +
                " bytes, an IDX header needs at least 4");
  IdxArray out;
  out.magic = big_endian_u32(bytes.data());
  if (bytes[0] != 0 || bytes[1] != 0)
    throw Error(path + ": wrong magic " + hex32(out.magic) + ", expected " + expected_magic + " (not an IDX file?)");
  const uint8_t type = bytes[2];
  if (type != kUbyteType)
    throw Error(path + ": unsupported data type " + hex8(type) + " in magic " + hex32(out.magic) +
                ", only 0x08 (unsigned byte) is supported");
  const size_t ndims = bytes[3];
  if (expected_dims != kAnyDimCount && ndims != static_cast<size_t>(expected_dims))
    throw Error(path + ": wrong dimension count " + std::to_string(ndims) + " (magic " + hex32(out.magic) +
                "), expected " + std::to_string(expected_dims) + " (magic " + expected_magic + ")");
  const size_t header_size = 4 + 4 * ndims;
  if (bytes.size() < header_size)
    throw Error(path + ": truncated header: file has " + std::to_string(bytes.size()) + " bytes, " +
                std::to_string(ndims) + " dimensions need a " + std::to_string(header_size) + "-byte header");

  size_t expected_bytes = 1;
  std::string shape;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t d = big_endian_u32(bytes.data() + 4 + 4 * i);
    out.dims.push_back(d);
    shape += (i ? "x" : "") + std::to_string(d);
    if (d != 0 && expected_bytes > std::numeric_limits<size_t>::max() / d)
      throw Error(path + ": dimensions " + shape + "... overflow the addressable size");
    expected_bytes *= d;
  }
  const size_t data_bytes = bytes.size() - header_size;
  if (data_bytes < expected_bytes)
    throw Error(path + ": truncated: header promises " + std::to_string(expected_bytes) + " bytes of data, file has " +
                std::to_string(data_bytes) + " (dims " + shape + ")");
  if (data_bytes > expected_bytes)
    throw Error(path + ": " + std::to_string(data_bytes - expected_bytes) + " trailing bytes after data (dims " + shape +
                ")");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header_size));
  out.data = std::move(bytes);
  return out;
}

}  // namespace

IdxArray read_idx(const std::string& path) { return parse_idx(path, read_decompressed(path), kAnyDimCount); }

IdxImages read_idx_images(const std::string& path, size_t expect_rows, size_t expect_cols) {
  IdxArray a = parse_idx(path, read_decompressed(path), 3);
  const size_t rows = a.dims[1], cols = a.dims[2];
  if (rows != expect_rows || cols != expect_cols)
    throw Error(path + ": images are " + std::to_string(rows) + "x" + std::to_string(cols) + ", expected " +
                std::to_string(expect_rows) + "x" + std::to_string(expect_cols));
  return IdxImages{a.dims[0], rows, cols, std::move(a.data)};
}

IdxLabels read_idx_labels(const std::string& path, uint8_t num_classes) {
  IdxArray a = parse_idx(path, read_decompressed(path), 1);
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (a.data[i] >= num_classes)
      throw Error(path + ": label out of range at index " + std::to_string(i) + ": " + std::to_string(a.data[i]) +
                  ", expected 0.." + std::to_string(num_classes - 1));
  }
  return IdxLabels{a.dims[0], std::move(a.data)};
}

}  // namespace vae
