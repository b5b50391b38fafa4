#pragma once
// SHA-256 digests as lowercase hex, used to recognise known dataset files and to
// fingerprint the data a run was trained on.
#include <cstddef>
#include <string>

namespace vae {

// Streams the file, so large files are never held in memory.
// Throws vae::Error "<path>: cannot open: <reason>" or "<path>: read error: <reason>".
std::string sha256_hex_of_file(const std::string& path);

std::string sha256_hex(const void* data, size_t n);

}  // namespace vae
