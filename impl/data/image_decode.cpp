#include "data/image_decode.h"

#include <cstdio>  // before jpeglib.h, which uses FILE and size_t without including them
#include <cstring>

#include <jpeglib.h>
#include <png.h>

#include "common/error.h"

namespace vae {
namespace {

constexpr uint8_t kJpegSignature[] = {0xFF, 0xD8, 0xFF};
constexpr uint8_t kPngSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool starts_with(const uint8_t* data, size_t size, const uint8_t* prefix, size_t n) {
  return size >= n && std::memcmp(data, prefix, n) == 0;
}

// The first bytes in hex, so "not an image" says what the file is instead.
std::string leading_bytes(const uint8_t* data, size_t size) {
  if (size == 0) return "the file is empty";
  std::string hex = "it starts with";
  for (size_t i = 0; i < size && i < 8; ++i) {
    char b[4];
    std::snprintf(b, sizeof b, " %02x", data[i]);
    hex += b;
  }
  return hex;
}

#define VAE_STRINGIFY_(x) #x
#define VAE_STRINGIFY(x) VAE_STRINGIFY_(x)

}  // namespace

void check_image_dimensions(size_t width, size_t height, const std::string& name, const ImageSizeCheck& check) {
  const std::string shape = std::to_string(width) + "x" + std::to_string(height);
  if (width == 0 || height == 0) throw Error(name + ": image is " + shape + ", it has no pixels");
  if (width > kMaxImagePixels / height)
    throw Error(name + ": image is " + shape + ", more than the limit of " + std::to_string(kMaxImagePixels) +
                " pixels");
  if (check) check(width, height);
}

ImageFormat sniff_image_format(const uint8_t* data, size_t size, const std::string& name) {
  if (starts_with(data, size, kJpegSignature, sizeof kJpegSignature)) return ImageFormat::Jpeg;
  if (starts_with(data, size, kPngSignature, sizeof kPngSignature)) return ImageFormat::Png;
  throw Error(name + ": not a JPEG or PNG file (" + leading_bytes(data, size) + ")");
}

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name, const ImageSizeCheck& check) {
  return sniff_image_format(data, size, name) == ImageFormat::Jpeg ? decode_jpeg(data, size, name, check)
                                                                    : decode_png(data, size, name, check);
}

std::string image_library_versions() {
  // libjpeg has no run-time version call; the header's is the library Debian pairs with it.
  return std::string("libjpeg-turbo ") + VAE_STRINGIFY(LIBJPEG_TURBO_VERSION) + " (libjpeg API " +
         std::to_string(JPEG_LIB_VERSION) + "), libpng " + png_get_libpng_ver(nullptr);
}

}  // namespace vae
