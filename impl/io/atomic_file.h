#pragma once
// Crash-safe file replacement: readers of `path` see either the old file or the complete
// new one, never a truncated mix (checkpoints and results must survive an interrupted run).
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>

namespace vae {

// Writes via `writer` into "<path>.tmp.<pid>.<random>" in the same directory, flushes and
// fsync()s it, renames it over `path`, then fsync()s the directory so the rename is durable.
// On any failure (writer throws, I/O error, missing directory) the temp file is removed, an
// existing `path` is left untouched, and vae::Error("<path>: <reason>") is thrown.
// The stream throws std::ios_base::failure on a write error so the writer stops early.
void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& writer);

// Same, for an in-memory byte buffer.
void write_file_atomically(const std::string& path, const void* data, size_t size);

}  // namespace vae
