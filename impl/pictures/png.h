#pragma once
// 8-bit grey or RGB images and their PNG encoding, for sample grids and latent-space plots
// written next to benchmark results.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vae {

// Row-major, channels interleaved: pixel (x, y) starts at ((y * width) + x) * channels.
struct Image {
  int width = 0, height = 0, channels = 1;  // 1 = grey, 3 = RGB
  std::vector<uint8_t> pixels;               // height * width * channels

  Image() = default;
  // Throws vae::Error for a negative size or channels other than 1 or 3.
  Image(int w, int h, int c, uint8_t fill = 0);

  // The pixel's first channel; no bounds check (callers clip, see contains()).
  uint8_t* at(int x, int y) { return pixels.data() + offset(x, y); }
  const uint8_t* at(int x, int y) const { return pixels.data() + offset(x, y); }
  bool contains(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height; }

 private:
  size_t offset(int x, int y) const {
    return (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) *
           static_cast<size_t>(channels);
  }
};

// Throws vae::Error "encode_png: <what>" for a zero size, channels other than 1 or 3, or
// pixels.size() != width * height * channels.
std::vector<uint8_t> encode_png(const Image& image);

// Encodes, then replaces `path` atomically. Errors are "<path>: <what>".
void write_png(const std::string& path, const Image& image);

// Reads 8-bit grey or RGB PNGs (what write_png produces); anything else (palette, alpha,
// 16-bit, 1/2/4-bit grey) is refused with vae::Error "<path>: <what>".
Image read_png(const std::string& path);

}  // namespace vae
