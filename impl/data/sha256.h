#pragma once
// SHA-256 digests as lowercase hex, used to recognise known dataset files and to
// fingerprint the data a run was trained on.
#include <cstddef>
#include <memory>
#include <string>

namespace vae {

// Streams the file, so large files are never held in memory.
// Throws vae::Error "<path>: cannot open: <reason>" or "<path>: read error: <reason>".
std::string sha256_hex_of_file(const std::string& path);

std::string sha256_hex(const void* data, size_t n);

// Incremental digest, for data that arrives in pieces (a cache array read or written in
// chunks is hashed on the way, not read a second time).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // finishes the digest; call once

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace vae
