#pragma once
// The decoded-image cache of an image folder, so 200,000 JPEGs are decoded once, not on every
// run: one uint8 array (the training images, then the test images, each [3, size, size], in
// the manifest's file order) and a JSON manifest that says what the array was made from.
//
// Validity. A load reuses the cache only when the manifest describes the folder as it is now:
// the same preprocessing, the same decoder libraries, the same split rule (and partition file,
// by size and modification time), and exactly the same image files by name, size and
// modification time (nanoseconds). The SHA-256 of every source file is computed once, when the
// cache is built (from the bytes being decoded, at no extra read), and recorded, but not
// re-checked on load: hashing thousands of files every run would cost what the cache saves.
// A file rewritten in place with the same size and the same nanosecond mtime would go unnoticed;
// any ordinary write or `touch` changes the mtime. The array itself is always re-hashed while it
// is read (it is read in full anyway) and must match the manifest's digest.
//
// Crash safety. Writing removes the old manifest first, then writes the array and then the
// manifest, each through write_file_atomically: at any moment there is either no manifest
// (rebuild) or a complete manifest whose digest the array on disk must match (a crash between
// the two writes leaves an array the old manifest's digest does not match: rebuild). A process
// killed mid-write leaves its temporary file ("<path>.tmp.<pid>.<random>", never read); the next
// build removes those of processes no longer running, as the array's can be gigabytes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vae {

struct SourceFile {
  std::string name;       // file name inside the image folder
  uint64_t size = 0;
  int64_t mtime_ns = 0;   // modification time, nanoseconds since the epoch
  std::string sha256;     // of the file's bytes when the cache was built; "" in a fresh listing and for "unused"
  std::string split;      // "train", "test" or "unused" (a partition the run does not use)
};

struct CacheManifest {
  std::string source;                 // the image folder, canonical path (information only)
  nlohmann::json preprocessing;       // crop, size, channels, layout, filter
  std::string libraries;              // image_library_versions()
  nlohmann::json split_rule;          // the rule, and the partition file's size and mtime
  std::vector<SourceFile> files;      // sorted by name
  std::string array_file;             // file name, beside the manifest
  uint64_t array_bytes = 0;
  std::string array_sha256;
};

// The manifest as written: the fields above under "format": "vaebench image cache v1", one file
// per line. Parsing throws vae::Error("<path>: ...") on a field that is missing or mistyped.
std::string manifest_text(const CacheManifest& manifest);
CacheManifest parse_manifest(const std::string& text, const std::string& path);

// The quick check: "" when `cached` was made from what `current` (a fresh listing) describes,
// else the first difference, e.g. "000123.jpg changed (size or modification time)".
std::string cache_difference(const CacheManifest& cached, const CacheManifest& current);

// nullopt with the reason in *why_not when the manifest is absent, unreadable or malformed.
std::optional<CacheManifest> read_cache_manifest(const std::string& path, std::string* why_not);

// Reads the array into train[train_bytes] and test[test_bytes], hashing it on the way; false with
// the reason in *why_not when it is missing, of another size, or its digest is not expected_sha256.
bool read_cache_array(const std::string& path, const std::string& expected_sha256, size_t train_bytes,
                      size_t test_bytes, std::vector<uint8_t>& train, std::vector<uint8_t>& test,
                      std::string* why_not);

// Writes the cache as described above (manifest.array_bytes and array_sha256 are filled in here)
// and returns the array's SHA-256. Throws vae::Error naming the path on failure; no half-written
// file is left.
std::string write_cache(const std::string& manifest_path, const std::string& array_path, CacheManifest manifest,
                 const std::vector<uint8_t>& train, const std::vector<uint8_t>& test);

}  // namespace vae
