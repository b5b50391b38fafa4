// libFuzzer target: the image decoding path of --dataset images:DIR -- one file's bytes through
// libjpeg-turbo or libpng to RGB, then the centre crop and the area-average resize. Any input
// must give an image of exactly the promised size or a vae::Error; never a crash, an exit()
// from inside a library, a leak or a hang.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/image_decode.h"
#include "data/image_resize.h"

extern "C" int fuzz_image_one(const uint8_t* data, size_t size) {
  try {
    const vae::RgbImage image = vae::decode_image(data, size, "fuzz input");
    if (image.width == 0 || image.height == 0 || image.pixels.size() != image.width * image.height * 3)
      __builtin_trap();
    // The largest centred square, shrunk to at most 8x8: the resizer on every shape the decoders give.
    const size_t crop = std::min(image.width, image.height), out = std::min<size_t>(crop, 8);
    std::vector<uint8_t> chw(3 * out * out);
    vae::crop_resize_chw(image, crop, out, chw.data());
  } catch (const vae::Error&) {
  }
  try {
    // The dataset's own path, with a small crop so that most images that decode pass the size check.
    const std::vector<uint8_t> chw = vae::image_to_chw(data, size, "fuzz input", 3, 2);
    if (chw.size() != 3 * 2 * 2) __builtin_trap();
  } catch (const vae::Error&) {
  }
  return 0;
}

#ifdef VAE_FUZZ_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fuzz_image_one(data, size); }
#endif
