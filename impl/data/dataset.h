#pragma once
// Loading MNIST-format datasets from a directory of IDX files, with identity checked by SHA-256,
// and the kinds of dataset the command line names (a folder of images: data/image_folder.h).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vae {

enum class DatasetKind { Mnist, FashionMnist, Images };

// "mnist" | "fashion-mnist" | "images:DIR"; anything else (or "images:" without a folder) throws
// vae::Error listing the choices.
DatasetKind parse_dataset_kind(const std::string& name);
// The DIR of "images:DIR"; throws vae::Error for any other value.
std::string image_folder_of(const std::string& name);
std::string to_string(DatasetKind kind);  // "mnist", "fashion-mnist", "images"
// mnist: "data/mnist" (relative; the caller resolves it), fashion-mnist: "/usr/share/datasets/fashion-mnist".
// images has none (the folder is part of --dataset): throws vae::Error.
std::string default_data_dir(DatasetKind kind);

struct Split {
  size_t count = 0, channels = 1, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // [count, channels*rows*cols]; within an image channel-major (NCHW), rows, then columns
  std::vector<uint8_t> labels;  // [count]; 0 for every image where there are none (image folders)
  size_t dim() const { return channels * rows * cols; }
};

struct FileInfo {
  std::string path, sha256;
  bool known = false;  // matched the known checksum of this file in some dataset
};

struct Dataset {
  std::string identity;          // "MNIST", "Fashion-MNIST", "unknown, unverified", or "images:<DIR>"
  bool verified = false;         // all four files matched the known SHA-256 of ONE dataset (never for images)
  Split train, test;
  std::vector<FileInfo> files;   // IDX: train-images, train-labels, test-images, test-labels; images: the cache array
  std::string combined_sha256;   // IDX: sha256 of the four hex digests concatenated in that order;
                                 // images: sha256 of the cached uint8 array (train images, then test)
};

// Looks up each file as <name>.gz, then raw <name>. Throws vae::Error when a file is missing or invalid,
// when image and label counts disagree, or when the files are verified as the other dataset than requested.
// DatasetKind::Images loads `dir` as an image folder with the default options (load_image_folder).
Dataset load_dataset(const std::string& dir, DatasetKind requested);

}  // namespace vae
