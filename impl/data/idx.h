#pragma once
// Reader for IDX files (the MNIST container format), gzip-compressed or raw.
// Every failure throws vae::Error with one line naming the file and the problem.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vae {

struct IdxArray {
  uint32_t magic;               // 0x0000TTNN: two zero bytes, type code TT, dimension count NN
  std::vector<uint32_t> dims;   // NN sizes, outermost first
  std::vector<uint8_t> data;    // product(dims) elements, row-major
};

// Generic reader; only the ubyte element type (code 0x08) is accepted.
IdxArray read_idx(const std::string& path);

struct IdxImages {
  size_t count, rows, cols;
  std::vector<uint8_t> pixels;  // row-major [count, rows*cols]
};

struct IdxLabels {
  size_t count;
  std::vector<uint8_t> labels;
};

// Magic 0x00000803 (count, rows, cols); every image must be expect_rows x expect_cols.
IdxImages read_idx_images(const std::string& path, size_t expect_rows = 28, size_t expect_cols = 28);

// Magic 0x00000801 (count); every label must be < num_classes.
IdxLabels read_idx_labels(const std::string& path, uint8_t num_classes = 10);

}  // namespace vae
