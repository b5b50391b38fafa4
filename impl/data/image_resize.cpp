#include "data/image_resize.h"

#include <algorithm>

#include "common/error.h"

namespace vae {
namespace {

// The source pixels one output pixel covers along one axis, with integer weights in units of
// 1/size of a source pixel: output o spans [o*crop, (o+1)*crop), source i spans [i*size, (i+1)*size).
// The weights of one output sum to `crop`.
struct Taps {
  size_t first = 0;
  std::vector<uint32_t> weights;
};

std::vector<Taps> area_taps(size_t crop, size_t size) {
  std::vector<Taps> taps(size);
  for (size_t o = 0; o < size; ++o) {
    const size_t lo = o * crop, hi = (o + 1) * crop;
    taps[o].first = lo / size;
    for (size_t i = lo / size; i * size < hi; ++i) {
      const size_t overlap = std::min(hi, (i + 1) * size) - std::max(lo, i * size);
      taps[o].weights.push_back(static_cast<uint32_t>(overlap));
    }
  }
  return taps;
}

}  // namespace

size_t crop_offset(size_t extent, size_t crop) { return (extent - crop) / 2; }

void crop_resize_chw(const RgbImage& image, size_t crop, size_t size, uint8_t* out) {
  if (size < 1 || size > crop || crop > image.width || crop > image.height)
    throw Error("crop_resize_chw: cannot shrink a " + std::to_string(crop) + "-pixel crop of a " +
                std::to_string(image.width) + "x" + std::to_string(image.height) + " image to " +
                std::to_string(size));
  const size_t x0 = crop_offset(image.width, crop), y0 = crop_offset(image.height, crop);
  const std::vector<Taps> taps = area_taps(crop, size);

  // Horizontal pass over the crop's rows: [crop rows][3][size] unrounded sums (< 255 * crop).
  std::vector<uint64_t> rows(crop * 3 * size);
  for (size_t y = 0; y < crop; ++y) {
    const uint8_t* src = image.pixels.data() + ((y0 + y) * image.width + x0) * 3;
    for (size_t ox = 0; ox < size; ++ox) {
      uint64_t sum[3] = {0, 0, 0};
      for (size_t k = 0; k < taps[ox].weights.size(); ++k) {
        const uint8_t* p = src + (taps[ox].first + k) * 3;
        for (size_t c = 0; c < 3; ++c) sum[c] += uint64_t{taps[ox].weights[k]} * p[c];
      }
      for (size_t c = 0; c < 3; ++c) rows[(y * 3 + c) * size + ox] = sum[c];
    }
  }
  // Vertical pass, then the one rounding: the weights of an output pixel sum to crop^2.
  const uint64_t area = uint64_t{crop} * crop;
  for (size_t c = 0; c < 3; ++c)
    for (size_t oy = 0; oy < size; ++oy)
      for (size_t ox = 0; ox < size; ++ox) {
        uint64_t sum = 0;
        for (size_t k = 0; k < taps[oy].weights.size(); ++k)
          sum += uint64_t{taps[oy].weights[k]} * rows[((taps[oy].first + k) * 3 + c) * size + ox];
        out[(c * size + oy) * size + ox] = static_cast<uint8_t>((2 * sum + area) / (2 * area));
      }
}

std::vector<uint8_t> image_to_chw(const uint8_t* data, size_t size, const std::string& name, size_t crop,
                                  size_t out_size) {
  const RgbImage image = decode_image(data, size, name, [&](size_t width, size_t height) {
    if (width < crop || height < crop)
      throw Error(name + ": image is " + std::to_string(width) + "x" + std::to_string(height) + ", smaller than the " +
                  std::to_string(crop) + "x" + std::to_string(crop) + " centre crop (--image-crop)");
  });
  std::vector<uint8_t> chw(3 * out_size * out_size);
  crop_resize_chw(image, crop, out_size, chw.data());
  return chw;
}

}  // namespace vae
