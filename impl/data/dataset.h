#pragma once
// Loading MNIST-format datasets from a directory of IDX files, with identity checked by SHA-256.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vae {

enum class DatasetKind { Mnist, FashionMnist };

// "mnist" | "fashion-mnist"; anything else throws vae::Error listing the choices.
DatasetKind parse_dataset_kind(const std::string& name);
std::string to_string(DatasetKind kind);
// mnist: "data/mnist" (relative; the caller resolves it), fashion-mnist: "/usr/share/datasets/fashion-mnist".
std::string default_data_dir(DatasetKind kind);

struct Split {
  size_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // row-major [count, rows*cols]
  std::vector<uint8_t> labels;  // [count]
  size_t dim() const { return rows * cols; }
};

struct FileInfo {
  std::string path, sha256;
  bool known = false;  // matched the known checksum of this file in some dataset
};

struct Dataset {
  std::string identity;          // "MNIST", "Fashion-MNIST", or "unknown, unverified"
  bool verified = false;         // all four files matched the known SHA-256 of ONE dataset
  Split train, test;
  std::vector<FileInfo> files;   // train-images, train-labels, test-images, test-labels
  std::string combined_sha256;   // sha256 of the four hex digests concatenated in that order
};

// Looks up each file as <name>.gz, then raw <name>. Throws vae::Error when a file is missing or invalid,
// when image and label counts disagree, or when the files are verified as the other dataset than requested.
Dataset load_dataset(const std::string& dir, DatasetKind requested);

}  // namespace vae
