#include "data/image_cache.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/error.h"
#include "data/sha256.h"
#include "io/atomic_file.h"

namespace vae {
namespace {

const char* const kFormat = "vaebench image cache v1";

nlohmann::json file_json(const SourceFile& f) {
  return {{"name", f.name}, {"size", f.size}, {"mtime_ns", f.mtime_ns}, {"sha256", f.sha256}, {"split", f.split}};
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& path) {
  const auto it = j.find(key);
  if (it == j.end()) throw Error(path + ": manifest has no \"" + key + "\"");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": manifest field \"" + key + "\" has the wrong type");
  }
}

// The first file in which two sorted listings differ, said from the folder's side.
std::string file_difference(const std::vector<SourceFile>& cached, const std::vector<SourceFile>& current) {
  size_t i = 0, j = 0;
  while (i < cached.size() && j < current.size()) {
    const SourceFile &a = cached[i], &b = current[j];
    if (a.name < b.name) return a.name + " was removed";
    if (b.name < a.name) return b.name + " was added";
    if (a.size != b.size || a.mtime_ns != b.mtime_ns) return a.name + " changed (size or modification time)";
    if (a.split != b.split) return a.name + " moved from the " + a.split + " to the " + b.split + " split";
    ++i, ++j;
  }
  if (i < cached.size()) return cached[i].name + " was removed";
  if (j < current.size()) return current[j].name + " was added";
  return "";
}

// write_file_atomically's temporaries of `path` left by processes that no longer run (a kill
// mid-write); a live process's are its own business.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
  }
}

}  // namespace

std::string manifest_text(const CacheManifest& m) {
  std::ostringstream out;
  out << "{\n"
      << "  \"format\": " << nlohmann::json(kFormat).dump() << ",\n"
      << "  \"source\": " << nlohmann::json(m.source).dump() << ",\n"
      << "  \"preprocessing\": " << m.preprocessing.dump() << ",\n"
      << "  \"libraries\": " << nlohmann::json(m.libraries).dump() << ",\n"
      << "  \"split_rule\": " << m.split_rule.dump() << ",\n"
      << "  \"array\": " << nlohmann::json{{"file", m.array_file}, {"bytes", m.array_bytes}, {"sha256", m.array_sha256}}.dump()
      << ",\n"
      << "  \"files\": [";
  for (size_t i = 0; i < m.files.size(); ++i) out << (i ? ",\n    " : "\n    ") << file_json(m.files[i]).dump();
  out << "\n  ]\n}\n";
  return out.str();
}

CacheManifest parse_manifest(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": manifest is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(path + ": manifest is not a JSON object");
  const std::string format = field<std::string>(j, "format", path);
  if (format != kFormat) throw Error(path + ": manifest format is '" + format + "', expected '" + kFormat + "'");
  CacheManifest m;
  m.source = field<std::string>(j, "source", path);
  m.preprocessing = field<nlohmann::json>(j, "preprocessing", path);
  m.libraries = field<std::string>(j, "libraries", path);
  m.split_rule = field<nlohmann::json>(j, "split_rule", path);
  const auto array = field<nlohmann::json>(j, "array", path);
  m.array_file = field<std::string>(array, "file", path);
  m.array_bytes = field<uint64_t>(array, "bytes", path);
  m.array_sha256 = field<std::string>(array, "sha256", path);
  const auto files = field<nlohmann::json>(j, "files", path);
  if (!files.is_array()) throw Error(path + ": manifest field \"files\" is not an array");
  m.files.reserve(files.size());
  for (const nlohmann::json& f : files) {
    if (!f.is_object()) throw Error(path + ": manifest has a file entry that is not an object");
    m.files.push_back({field<std::string>(f, "name", path), field<uint64_t>(f, "size", path),
                       field<int64_t>(f, "mtime_ns", path), field<std::string>(f, "sha256", path),
                       field<std::string>(f, "split", path)});
  }
  return m;
}

std::string cache_difference(const CacheManifest& cached, const CacheManifest& current) {
  if (cached.preprocessing != current.preprocessing)
    return "preprocessing differs: cached " + cached.preprocessing.dump() + ", now " + current.preprocessing.dump();
  if (cached.libraries != current.libraries)
    return "decoder libraries differ: cached " + cached.libraries + ", now " + current.libraries;
  if (cached.split_rule != current.split_rule)
    return "split rule differs: cached " + cached.split_rule.dump() + ", now " + current.split_rule.dump();
  return file_difference(cached.files, current.files);
}

std::optional<CacheManifest> read_cache_manifest(const std::string& path, std::string* why_not) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why_not = errno == ENOENT ? "no cache yet" : path + ": cannot open: " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *why_not = path + ": read error";
    return std::nullopt;
  }
  try {
    return parse_manifest(text.str(), path);
  } catch (const Error& e) {
    *why_not = e.what();
    return std::nullopt;
  }
}

bool read_cache_array(const std::string& path, const std::string& expected_sha256, size_t train_bytes,
                      size_t test_bytes, std::vector<uint8_t>& train, std::vector<uint8_t>& test,
                      std::string* why_not) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    *why_not = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  train.resize(train_bytes);
  test.resize(test_bytes);
  Sha256 digest;
  constexpr size_t kChunk = size_t{1} << 24;
  for (std::vector<uint8_t>* part : {&train, &test}) {
    for (size_t done = 0; done < part->size();) {
      const size_t want = std::min(kChunk, part->size() - done);
      const size_t got = std::fread(part->data() + done, 1, want, file.get());
      digest.update(part->data() + done, got);
      done += got;
      if (got < want) {
        *why_not = path + (std::ferror(file.get()) ? ": read error: " + std::string(std::strerror(errno))
                                                    : ": shorter than its manifest says");
        return false;
      }
    }
  }
  if (std::fgetc(file.get()) != EOF) {
    *why_not = path + ": longer than its manifest says";
    return false;
  }
  if (digest.hex() != expected_sha256) {
    *why_not = path + ": SHA-256 differs from its manifest's (the array was changed or its write interrupted)";
    return false;
  }
  return true;
}

std::string write_cache(const std::string& manifest_path, const std::string& array_path, CacheManifest manifest,
                 const std::vector<uint8_t>& train, const std::vector<uint8_t>& test) {
  Sha256 digest;
  digest.update(train.data(), train.size());
  digest.update(test.data(), test.size());
  manifest.array_bytes = train.size() + test.size();
  manifest.array_sha256 = digest.hex();
  // Without this a crash after the array's rename would leave the old manifest beside the new
  // array; the digest check would catch that, but no manifest at all is plainer.
  remove_stale_temporaries(array_path);
  remove_stale_temporaries(manifest_path);
  if (::unlink(manifest_path.c_str()) != 0 && errno != ENOENT)
    throw Error(manifest_path + ": cannot remove the old manifest: " + std::strerror(errno));
  write_file_atomically(array_path, [&](std::ostream& os) {
    os.write(reinterpret_cast<const char*>(train.data()), static_cast<std::streamsize>(train.size()));
    os.write(reinterpret_cast<const char*>(test.data()), static_cast<std::streamsize>(test.size()));
  });
  const std::string text = manifest_text(manifest);
  write_file_atomically(manifest_path, text.data(), text.size());
  return manifest.array_sha256;
}

}  // namespace vae
