// PNG through libpng. libpng's fatal errors go to our error function, which longjmps back to
// decode_with_libpng (an error function must not return); every C++ object of the decode lives
// in its caller (PngDecode), so the jump skips no destructor.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <vector>

#include "common/error.h"
#include "data/image_decode.h"

namespace vae {
namespace {

// libpng refuses a header over these before it allocates anything (its own default is 1e6).
constexpr png_uint_32 kMaxSide = 1u << 16;

struct PngDecode {
  PngDecode(const std::string& name_, const ImageSizeCheck& check_, const uint8_t* data_, size_t size_)
      : name(name_), check(check_), data(data_), size(size_) {}
  const std::string& name;
  const ImageSizeCheck& check;
  const uint8_t* data;
  size_t size, pos = 0;
  std::jmp_buf jump;
  char message[256] = "";
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::vector<png_bytep> rows;
  RgbImage image;
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* d = static_cast<PngDecode*>(png_get_error_ptr(png));
  std::snprintf(d->message, sizeof d->message, "%s", message);
  std::longjmp(d->jump, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // ancillary trouble (profiles, text): pixels unaffected

void read_from_memory(png_structp png, png_bytep out, size_t n) {
  auto* d = static_cast<PngDecode*>(png_get_io_ptr(png));
  if (n > d->size - d->pos) png_error(png, "truncated: the file ends early");
  std::copy(d->data + d->pos, d->data + d->pos + n, out);
  d->pos += n;
}

// Returns false after a libpng error (the message is in d.message). May throw vae::Error from
// the size check; the caller destroys the read struct either way.
bool decode_with_libpng(PngDecode& d) {
  if (setjmp(d.jump)) return false;
  png_set_user_limits(d.png, kMaxSide, kMaxSide);
  // Every ancillary chunk but tRNS is skipped unread (we apply no gamma, profile or background),
  // and "benign" errors -- missing or excess image data -- are errors here, not warnings.
  png_set_keep_unknown_chunks(d.png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_set_benign_errors(d.png, 0);
  png_set_read_fn(d.png, &d, read_from_memory);
  png_read_info(d.png, d.info);
  const png_uint_32 width = png_get_image_width(d.png, d.info), height = png_get_image_height(d.png, d.info);
  check_image_dimensions(width, height, d.name, d.check);
  const int colour = png_get_color_type(d.png, d.info), depth = png_get_bit_depth(d.png, d.info);
  if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(d.png);
  if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(d.png);
  if (depth == 16) png_set_scale_16(d.png);
  // A palette's tRNS chunk comes out of the expansion as an alpha channel: dropped like the others.
  if ((colour & PNG_COLOR_MASK_ALPHA) || png_get_valid(d.png, d.info, PNG_INFO_tRNS)) png_set_strip_alpha(d.png);
  if (colour == PNG_COLOR_TYPE_GRAY || colour == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(d.png);
  png_set_interlace_handling(d.png);
  png_read_update_info(d.png, d.info);
  if (png_get_channels(d.png, d.info) != 3 || png_get_bit_depth(d.png, d.info) != 8 ||
      png_get_rowbytes(d.png, d.info) != size_t{width} * 3)
    throw Error(d.name + ": libpng did not convert the image to 8-bit RGB");
  d.image.width = width;
  d.image.height = height;
  d.image.pixels.resize(d.image.width * d.image.height * 3);
  d.rows.resize(height);
  for (size_t y = 0; y < height; ++y) d.rows[y] = d.image.pixels.data() + y * d.image.width * 3;
  png_read_image(d.png, d.rows.data());
  png_read_end(d.png, nullptr);  // checks the rest of the file through IEND: a cut-off file fails
  return true;
}

}  // namespace

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& name, const ImageSizeCheck& check) {
  PngDecode d(name, check, data, size);
  d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_png_error, on_png_warning);
  if (!d.png) throw Error(name + ": libpng could not start (out of memory)");
  d.info = png_create_info_struct(d.png);
  if (!d.info) {
    png_destroy_read_struct(&d.png, nullptr, nullptr);
    throw Error(name + ": libpng could not start (out of memory)");
  }
  bool ok = false;
  try {
    ok = decode_with_libpng(d);
  } catch (...) {
    png_destroy_read_struct(&d.png, &d.info, nullptr);
    throw;
  }
  png_destroy_read_struct(&d.png, &d.info, nullptr);
  if (!ok) throw Error(name + ": corrupt PNG: " + d.message);
  return std::move(d.image);
}

}  // namespace vae
