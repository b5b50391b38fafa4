#pragma once
// `--dataset images:DIR`: a folder of JPEG and PNG files (CelebA's aligned faces and the like)
// as a Dataset of RGB images [3, size, size], decoded once into a cache (data/image_cache.h).
#include <cstddef>
#include <ostream>
#include <string>

#include "data/dataset.h"

namespace vae {

struct ImageFolderOptions {
  size_t crop = 148;             // --image-crop: side of the centred square taken from each image
  size_t size = 64;              // --image-size: the side it is shrunk to (data/image_resize.h)
  std::string cache_dir;         // --image-cache: where the cache lives; empty: the image folder itself
  std::ostream* log = nullptr;   // decoding progress and why a cache is (re)built; null: silent
};

// Throws vae::Error naming --image-size or --image-crop: size 1..1024, crop 1..8192, size <= crop.
void check_image_folder_options(const ImageFolderOptions& options);

// What one load did, for the log and for tests.
struct ImageFolderLoad {
  bool cache_reused = false;
  size_t decoded = 0;            // image files decoded by this load (0 when the cache was reused)
  std::string rebuild_reason;    // why the cache was built; "" when it was reused
  std::string manifest_path, array_path;
  std::string split_rule;        // "list_eval_partition.txt" or "file-name hash"
};

// The images: every regular file directly in `dir` whose name ends in .jpg, .jpeg or .png (any
// case) and does not start with '.', in bytewise order of name within each split.
//
// The split: when `dir` holds CelebA's list_eval_partition.txt ("<file name> <0|1|2>" per line),
// it decides, as torchvision's CelebA does: 0 train, 2 test, 1 (validation) unused; every image
// in the folder must have a line. Otherwise a file is a test image when the first four bytes of
// the SHA-256 of its name, read big-endian, are a multiple of 10 (is_test_image_name): about 10 %,
// decided by the name alone, so the split does not depend on the order files were created or
// listed in, and adding images never moves an existing one to the other split.
//
// The cache: "<cache dir>/<base>.u8" and "<base>.json", where the cache dir is `dir` itself
// unless options.cache_dir is set (for a read-only folder), and <base> is image_cache_base(). It
// is reused when valid (image_cache.h), else rebuilt; a cache location that cannot be written is
// an error naming it, found before anything is decoded.
//
// Returns identity "images:<dir>" (unverified), train and test Splits with channels 3,
// rows = cols = size, labels 0; files = the cache array with its SHA-256, which is also
// combined_sha256. Throws vae::Error naming the folder or the file for a missing folder, an empty
// one, one without image files, an empty split, and any image that cannot be read or decoded or is
// smaller than the crop; then no cache file is written.
Dataset load_image_folder(const std::string& dir, const ImageFolderOptions& options,
                          ImageFolderLoad* report = nullptr);

// The file-name split above: true for a test image.
bool is_test_image_name(const std::string& file_name);

// "vaebench-cache-c148-s64" beside the images; in a separate cache dir, which may serve several
// folders, "vaebench-cache-<folder name>-<12 hex digits of the SHA-256 of its canonical path>-c148-s64".
std::string image_cache_base(const std::string& dir, const ImageFolderOptions& options);

}  // namespace vae
