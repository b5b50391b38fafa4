#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <iterator>
#include <set>
#include <tuple>

#include "common/bf16.h"
#include "common/error.h"
#include "io/atomic_file.h"

namespace vae {
namespace {

using json = nlohmann::json;

// Same limit as the reference implementation: a header this big is surely hostile.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests 3 deep; the cap keeps hostile "[[[[..." from costing anything.
constexpr int kMaxJsonDepth = 64;

const char* const kDTypeNames[] = {"F64", "F32", "BF16", "F16", "I64", "I32", "U8"};
const DType kAllDTypes[] = {DType::F64, DType::F32, DType::BF16, DType::F16, DType::I64, DType::I32, DType::U8};

// JSON-quoted, escaped form of a string that may come from a hostile file, so error
// messages stay one printable line.
std::string quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

bool mul_overflows(size_t a, size_t b, size_t* out) { return __builtin_mul_overflow(a, b, out); }

// Element count of a shape whose dims are already known to be non-negative; false on overflow.
// Any zero dimension makes the count 0 regardless of the others.
bool checked_numel(const std::vector<int64_t>& shape, size_t* out) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return (*out = 0), true;
  size_t n = 1;
  for (int64_t d : shape) {
    if (mul_overflows(n, static_cast<size_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

double half_to_double(uint16_t h) {
  int sign = (h >> 15) ? -1 : 1;
  int exp = (h >> 10) & 0x1f;
  int mant = h & 0x3ff;
  if (exp == 0) return sign * std::ldexp(mant, -24);  // zero / subnormal
  if (exp == 31) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(mant + 1024, exp - 25);
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The header JSON exactly as the reference writer lays it out: "__metadata__" first, then
// tensors in file order, each as {"dtype","shape","data_offsets"}, padded with spaces to 8.
std::string build_header(const SafetensorsFile& file, const std::string& where) {
  std::set<std::string> seen;
  std::string h = "{";
  try {
    if (!file.metadata.empty()) h += "\"__metadata__\":" + json(file.metadata).dump();
    size_t offset = 0;
    for (const Tensor& t : file.tensors) {
      if (t.name == "__metadata__") throw Error(where + ": tensor name \"__metadata__\" is reserved");
      if (!seen.insert(t.name).second) throw Error(where + ": duplicate tensor name " + quoted(t.name));
      size_t numel = 0, nbytes = 0;
      try {
        numel = t.numel();
      } catch (const Error& e) {
        throw Error(where + ": " + e.what());
      }
      if (mul_overflows(numel, dtype_size(t.dtype), &nbytes) || t.bytes.size() != nbytes) {
        throw Error(where + ": tensor " + quoted(t.name) + " has " + std::to_string(t.bytes.size()) +
                    " bytes but dtype " + to_string(t.dtype) + " with shape " + shape_text(t.shape) + " needs " +
                    std::to_string(nbytes));
      }
      if (h.size() > 1) h += ",";
      h += json(t.name).dump() + ":{\"dtype\":\"" + to_string(t.dtype) + "\",\"shape\":" + shape_text(t.shape) +
           ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
      offset += nbytes;
    }
  } catch (const json::exception& e) {  // dump() rejects invalid UTF-8 in names / metadata
    throw Error(where + ": cannot encode header: " + e.what());
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

void put_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// One tensor's header entry, validated on its own (buffer coverage is checked afterwards).
struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const json& v, uint64_t buffer_size, const std::string& where) {
  const std::string what = where + ": tensor " + quoted(name) + ": ";
  if (!v.is_object()) throw Error(what + "entry is not a JSON object");
  auto field = [&](const char* key) -> const json& {
    auto it = v.find(key);
    if (it == v.end()) throw Error(what + "missing field \"" + key + "\"");
    return *it;
  };
  Entry e{name, DType::U8, {}, 0, 0};

  const json& dt = field("dtype");
  if (!dt.is_string()) throw Error(what + "field \"dtype\" is not a string");
  const std::string& dts = dt.get_ref<const std::string&>();
  auto known = std::find(std::begin(kDTypeNames), std::end(kDTypeNames), dts);
  if (known == std::end(kDTypeNames)) throw Error(what + "unknown or unsupported dtype " + quoted(dts));
  e.dtype = kAllDTypes[known - std::begin(kDTypeNames)];

  const json& sh = field("shape");
  if (!sh.is_array()) throw Error(what + "field \"shape\" is not an array");
  for (const json& d : sh) {
    if (d.is_number_unsigned()) {
      uint64_t u = d.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) throw Error(what + "shape dimension " + std::to_string(u) + " is too large");
      e.shape.push_back(static_cast<int64_t>(u));
    } else if (d.is_number_integer()) {
      throw Error(what + "negative dimension " + std::to_string(d.get<int64_t>()) + " in shape");
    } else {
      throw Error(what + "shape contains a non-integer " + d.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
  size_t numel = 0, nbytes = 0;
  if (!checked_numel(e.shape, &numel) || mul_overflows(numel, dtype_size(e.dtype), &nbytes)) {
    throw Error(what + "shape " + shape_text(e.shape) + " overflows the element count");
  }

  const json& off = field("data_offsets");
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    throw Error(what + "field \"data_offsets\" is not [begin, end] with non-negative integers");
  }
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  const std::string span = "data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]";
  if (e.begin > e.end) throw Error(what + span + " has begin > end");
  if (e.end > buffer_size) throw Error(what + span + " runs past the end of the " + std::to_string(buffer_size) + "-byte data buffer");
  if (e.end - e.begin != nbytes) {
    throw Error(what + span + " spans " + std::to_string(e.end - e.begin) + " bytes but dtype " + dts + " with shape " +
                shape_text(e.shape) + " needs " + std::to_string(nbytes));
  }
  return e;
}

// Parses the header text. The callback rejects duplicate keys (which nlohmann would silently
// collapse, letting two readers disagree on a file) and excessive nesting.
json parse_header_json(const char* begin, const char* end, const std::string& where) {
  std::vector<std::set<std::string>> open_objects;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth > kMaxJsonDepth) throw Error(where + ": header JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (ev == json::parse_event_t::object_start) open_objects.emplace_back();
    else if (ev == json::parse_event_t::object_end) open_objects.pop_back();
    else if (ev == json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second) {
      throw Error(where + ": header has duplicate key " + quoted(parsed.get<std::string>()));
    }
    return true;
  };
  try {
    return json::parse(begin, end, cb);
  } catch (const json::exception& e) {
    // Every nlohmann error, not only parse_error: a number too large for any C++ type is an
    // out_of_range (406), found by fuzz_safetensors. nlohmann escapes control characters in
    // its message, so it stays on one line.
    throw Error(where + ": header is not valid JSON: " + e.what());
  }
}

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}


size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::BF16: case DType::F16: return 2;
    case DType::U8: return 1;
  }
  throw Error("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

std::string to_string(DType dtype) {
  size_t i = static_cast<size_t>(dtype);
  if (i >= std::size(kDTypeNames)) throw Error("invalid DType value " + std::to_string(i));
  return kDTypeNames[i];
}

size_t Tensor::numel() const {
  for (int64_t d : shape) {
    if (d < 0) throw Error("tensor " + quoted(name) + ": negative dimension in shape " + shape_text(shape));
  }
  size_t n = 0;
  if (!checked_numel(shape, &n)) throw Error("tensor " + quoted(name) + ": shape " + shape_text(shape) + " overflows the element count");
  return n;
}

std::vector<double> Tensor::to_double() const {
  const size_t n = numel(), es = dtype_size(dtype);
  if (bytes.size() != n * es) {
    throw Error("tensor " + quoted(name) + ": has " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(n * es));
  }
  std::vector<double> out(n);
  const uint8_t* p = bytes.data();
  for (size_t i = 0; i < n; ++i, p += es) {
    switch (dtype) {
      case DType::F64: out[i] = load<double>(p); break;
      case DType::F32: out[i] = load<float>(p); break;
      case DType::BF16: out[i] = bf16_value(load<uint16_t>(p)); break;  // the top half of a float32
      case DType::F16: out[i] = half_to_double(load<uint16_t>(p)); break;
      case DType::I64: out[i] = static_cast<double>(load<int64_t>(p)); break;
      case DType::I32: out[i] = load<int32_t>(p); break;
      case DType::U8: out[i] = *p; break;
    }
  }
  return out;
}

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const Tensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  if (const Tensor* t = find(name)) return *t;
  std::string msg = (source.empty() ? std::string("safetensors") : source) + ": no tensor named " + quoted(name) + " (has ";
  const size_t shown = std::min<size_t>(tensors.size(), 5);
  for (size_t i = 0; i < shown; ++i) msg += (i ? ", " : "") + quoted(tensors[i].name);
  if (tensors.empty()) msg += "no tensors";
  if (tensors.size() > shown) msg += ", +" + std::to_string(tensors.size() - shown) + " more";
  throw Error(msg + ")");
}

std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file, const std::string& name_for_errors) {
  std::string head;
  std::string header = build_header(file, name_for_errors);
  put_u64_le(head, header.size());
  head += header;
  std::vector<uint8_t> out(head.begin(), head.end());
  for (const Tensor& t : file.tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  // Header first (validates everything) so a bad tensor fails before any file is created;
  // tensor bytes are then streamed without building a second copy of the whole file.
  std::string head;
  std::string header = build_header(file, path);
  put_u64_le(head, header.size());
  head += header;
  write_file_atomically(path, [&](std::ostream& os) {
    os.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (const Tensor& t : file.tensors) {
      os.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
    }
  });
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& where) {
  if (size < 8) throw Error(where + ": file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  const uint64_t n = load<uint64_t>(data);
  if (n > kMaxHeaderBytes) throw Error(where + ": header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > size - 8) {
    throw Error(where + ": header length " + std::to_string(n) + " exceeds the " + std::to_string(size - 8) +
                " bytes after the length field (file truncated?)");
  }
  const char* hbegin = reinterpret_cast<const char*>(data + 8);
  const json root = parse_header_json(hbegin, hbegin + n, where);
  if (!root.is_object()) throw Error(where + ": header is not a JSON object");

  const uint8_t* buffer = data + 8 + n;
  const uint64_t buffer_size = size - 8 - n;
  SafetensorsFile file;
  file.source = where;
  std::vector<Entry> entries;
  for (const auto& [key, value] : root.items()) {
    if (key != "__metadata__") {
      entries.push_back(parse_entry(key, value, buffer_size, where));
      continue;
    }
    if (value.is_null()) continue;  // the reference reader treats null as "no metadata"
    if (!value.is_object()) throw Error(where + ": \"__metadata__\" is not a JSON object");
    for (const auto& [mk, mv] : value.items()) {
      if (!mv.is_string()) throw Error(where + ": metadata value for key " + quoted(mk) + " is not a string");
      file.metadata[mk] = mv.get<std::string>();
    }
  }

  // The spec requires the tensors to tile the buffer exactly: sorted by offset, each must
  // start where the previous ended, and the last must end at the buffer's end.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos) throw Error(where + ": tensors " + quoted(prev->name) + " and " + quoted(e.name) + " overlap in the data buffer");
    if (e.begin > pos) {
      throw Error(where + ": hole in the data buffer: bytes [" + std::to_string(pos) + "," + std::to_string(e.begin) +
                  ") belong to no tensor");
    }
    pos = e.end;
    prev = &e;
  }
  if (pos != buffer_size) {
    throw Error(where + ": data buffer has " + std::to_string(buffer_size - pos) + " trailing bytes not covered by any tensor");
  }

  for (Entry& e : entries) {
    Tensor t;
    t.name = std::move(e.name);
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.bytes.assign(buffer + e.begin, buffer + e.end);
    file.tensors.push_back(std::move(t));
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> data;
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) data.reserve(static_cast<size_t>(st.st_size));
  // Read to EOF rather than trusting st_size, so pipes and files that change size still work.
  uint8_t chunk[1 << 16];
  for (;;) {
    ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      ::close(fd);
      throw Error(path + ": read failed: " + std::strerror(err));
    }
    if (got == 0) break;
    data.insert(data.end(), chunk, chunk + got);
  }
  ::close(fd);
  return parse_safetensors(data.data(), data.size(), path);
}

}  // namespace vae
