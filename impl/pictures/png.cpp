#include "pictures/png.h"

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/error.h"
#include "io/atomic_file.h"

namespace vae {
namespace {

// libpng reports errors by longjmp. The functions that call setjmp below hold only trivially
// destructible locals, so the jump skips no destructor; C++ state lives in the caller.
struct PngState {
  std::vector<uint8_t>* encoded = nullptr;  // writing
  const uint8_t* data = nullptr;            // reading
  size_t size = 0, pos = 0;
  Image* image = nullptr;
  char error[200] = "";
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  if (state->error[0] == '\0') std::snprintf(state->error, sizeof state->error, "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // warnings are not failures

void on_png_write(png_structp png, png_bytep data, size_t n) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  // An exception must not cross libpng's C frames, nor may we longjmp out of a handler.
  bool out_of_memory = false;
  try {
    state->encoded->insert(state->encoded->end(), data, data + n);
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  if (out_of_memory) png_error(png, "out of memory");
}

void on_png_flush(png_structp) {}

void on_png_read(png_structp png, png_bytep out, size_t n) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > state->size - state->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, state->data + state->pos, n);
  state->pos += n;
}

bool encode_into(const Image& image, PngState* state) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, state, on_png_error, on_png_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, state, on_png_write, on_png_flush);
  int colour = image.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY;
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8,
               colour, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y) png_write_row(png, image.at(0, y));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

// Fills state->image; leaves its format checks' verdict in state->error.
bool decode_into(PngState* state) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, on_png_error, on_png_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, state, on_png_read);
  png_read_info(png, info);
  int depth = png_get_bit_depth(png, info);
  int colour = png_get_color_type(png, info);
  if (depth != 8 || (colour != PNG_COLOR_TYPE_GRAY && colour != PNG_COLOR_TYPE_RGB)) {
    std::snprintf(state->error, sizeof state->error,
                  "unsupported PNG format (colour type %d, bit depth %d); expected 8-bit grey or RGB", colour, depth);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  Image& image = *state->image;
  image.width = static_cast<int>(png_get_image_width(png, info));
  image.height = static_cast<int>(png_get_image_height(png, info));
  image.channels = colour == PNG_COLOR_TYPE_RGB ? 3 : 1;
  bool out_of_memory = false;
  try {
    image.pixels.assign(static_cast<size_t>(image.width) * static_cast<size_t>(image.height) *
                            static_cast<size_t>(image.channels), 0);
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  if (out_of_memory) png_error(png, "out of memory");
  // Interlaced files fill each row over several passes.
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  for (int pass = 0; pass < passes; ++pass)
    for (int y = 0; y < image.height; ++y) png_read_row(png, image.at(0, y), nullptr);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

Image::Image(int w, int h, int c, uint8_t fill) : width(w), height(h), channels(c) {
  if (w < 0 || h < 0) throw Error("Image: negative size " + std::to_string(w) + "x" + std::to_string(h));
  if (c != 1 && c != 3) throw Error("Image: " + std::to_string(c) + " channels, expected 1 (grey) or 3 (RGB)");
  pixels.assign(static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(c), fill);
}

std::vector<uint8_t> encode_png(const Image& image) {
  std::string size = std::to_string(image.width) + "x" + std::to_string(image.height);
  if (image.width <= 0 || image.height <= 0) throw Error("encode_png: image size " + size + " is empty");
  if (image.channels != 1 && image.channels != 3)
    throw Error("encode_png: " + std::to_string(image.channels) + " channels, expected 1 (grey) or 3 (RGB)");
  size_t expected = static_cast<size_t>(image.width) * static_cast<size_t>(image.height) *
                    static_cast<size_t>(image.channels);
  if (image.pixels.size() != expected)
    throw Error("encode_png: " + std::to_string(image.pixels.size()) + " pixel bytes, expected " +
                std::to_string(expected) + " for " + size + "x" + std::to_string(image.channels));
  std::vector<uint8_t> encoded;
  PngState state;
  state.encoded = &encoded;
  if (!encode_into(image, &state))
    throw Error(std::string("encode_png: libpng failed: ") + (state.error[0] ? state.error : "cannot create writer"));
  return encoded;
}

void write_png(const std::string& path, const Image& image) {
  std::vector<uint8_t> encoded;
  try {
    encoded = encode_png(image);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  write_file_atomically(path, encoded.data(), encoded.size());
}

Image read_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": read error");
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0) throw Error(path + ": not a PNG file");
  Image image;
  PngState state;
  state.data = bytes.data();
  state.size = bytes.size();
  state.image = &image;
  if (!decode_into(&state)) throw Error(path + ": " + (state.error[0] ? state.error : "cannot create PNG reader"));
  return image;
}

}  // namespace vae
