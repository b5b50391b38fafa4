#pragma once
// Decoding the bytes of one JPEG or PNG file to 8-bit RGB with Debian's libjpeg-turbo and
// libpng (no decoder of our own). Every failure -- truncated or corrupt data, an unsupported
// kind of file, an image too large or refused by `check` -- throws vae::Error naming the file
// and the problem; the libraries' fatal errors come back to us by longjmp, never exit().
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vae {

struct RgbImage {
  size_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3] row-major, R G B interleaved
};

enum class ImageFormat { Jpeg, Png };

// Called with (width, height) once the header is read, before any pixel is decoded, so an
// image that is too small for the crop costs no decoding; it throws to refuse the image.
using ImageSizeCheck = std::function<void(size_t width, size_t height)>;

// More than any photograph a VAE is trained on (8192 x 8192); a header promising more is refused
// before memory is allocated for it (a malformed or malicious file).
constexpr size_t kMaxImagePixels = size_t{1} << 26;

// Throws "<name>: image is WxH, more than the limit of N pixels" (or "...has no pixels"), then runs
// `check` if given. Both decoders call it between the header and the pixels.
void check_image_dimensions(size_t width, size_t height, const std::string& name, const ImageSizeCheck& check);

// By content (the signature), not by the name's extension. Throws "<name>: not a JPEG or PNG
// file (...)" for anything else, e.g. a text file named .png.
ImageFormat sniff_image_format(const uint8_t* data, size_t size, const std::string& name);

// The conversions to RGB, each exact and the same on every machine:
//   JPEG: libjpeg's accurate integer IDCT (JDCT_ISLOW) and its default ("fancy") chroma
//         upsampling, colour-converted by libjpeg to RGB (greyscale replicated to R = G = B);
//         libjpeg-turbo's SIMD paths are bit-exact with its C code for these. CMYK/YCCK JPEGs
//         are refused. A corrupt-data warning (e.g. "Premature end of JPEG file", after which
//         libjpeg would fill the rest grey) fails the image like an error.
//   PNG:  palette expanded; grey (any depth) replicated to RGB; alpha (and tRNS) dropped,
//         not composited; 16-bit samples scaled by png_set_scale_16 (round(v * 255 / 65535));
//         no gamma or colour-profile correction (the stored sample values); interlaced images
//         de-interlaced. Warnings about ancillary chunks are ignored; libpng's "benign"
//         errors (e.g. missing image data) fail the image.
RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const ImageSizeCheck& check = {});
RgbImage decode_png(const uint8_t* data, size_t size, const std::string& name, const ImageSizeCheck& check = {});
// Dispatches on sniff_image_format.
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name, const ImageSizeCheck& check = {});

// "libjpeg-turbo 2.1.5 (libjpeg API 62), libpng 1.6.39": recorded in the image cache, whose
// bytes would change with a JPEG decoder that rounds differently.
std::string image_library_versions();

}  // namespace vae
