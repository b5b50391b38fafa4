#pragma once
// Reader/writer for the Hugging Face safetensors format, so checkpoints interoperate with
// PyTorch/NumPy tooling. Layout: u64 little-endian header length N, N bytes of JSON header
// (padded with spaces to a multiple of 8), then the data buffer. The header maps each tensor
// name to {"dtype","shape","data_offsets":[begin,end]} (offsets relative to the buffer) and may
// hold "__metadata__": {string: string}. Tensors are row-major, little-endian, and must cover
// the buffer exactly (no holes, no overlaps).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace vae {

// Raw tensor bytes are copied as-is, which is only correct on a little-endian host.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

enum class DType { F64, F32, BF16, F16, I64, I32, U8 };

size_t dtype_size(DType dtype);
std::string to_string(DType dtype);  // safetensors spelling: "F64", "F32", "BF16", ...
std::string shape_text(const std::vector<int64_t>& shape);  // "[3,4]", for messages

template <class T> struct dtype_of;  // maps a C++ element type to its DType
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::U8; };

struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // [] is a scalar (numel 1); any 0 dimension gives numel 0
  std::vector<uint8_t> bytes;  // raw little-endian, row-major

  // Product of `shape`; throws vae::Error on a negative dimension or size_t overflow.
  size_t numel() const;

  // Copies numel(shape) elements from `data` (which may be null when that is 0).
  template <class T>
  static Tensor from(std::string name, std::vector<int64_t> shape, const T* data) {
    Tensor t;
    t.name = std::move(name);
    t.dtype = dtype_of<T>::value;
    t.shape = std::move(shape);
    size_t n = t.numel() * sizeof(T);
    t.bytes.resize(n);
    if (n > 0) std::memcpy(t.bytes.data(), data, n);
    return t;
  }

  // Element values as double (all dtypes; I64 beyond 2^53 loses precision).
  std::vector<double> to_double() const;
};

struct SafetensorsFile {
  std::vector<Tensor> tensors;  // file order (read: sorted by data offset)
  std::map<std::string, std::string> metadata;
  std::string source;  // path it was read from, used in error messages; empty if built in memory

  const Tensor& at(const std::string& name) const;  // vae::Error naming a few available tensors
  const Tensor* find(const std::string& name) const;  // nullptr if absent
};

// Serializes to the exact byte layout the reference implementation produces for the same
// tensor order. Throws vae::Error for duplicate names, the reserved name "__metadata__", or
// bytes.size() != numel * dtype_size.
std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file, const std::string& name_for_errors);

// serialize_safetensors + write_file_atomically.
void write_safetensors(const std::string& path, const SafetensorsFile& file);

// Pure parser over an in-memory file image (no I/O, fuzzable). Every malformation gives
// vae::Error("<name_for_errors>: <problem>").
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name_for_errors);

// Reads the whole file and parses it.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace vae
