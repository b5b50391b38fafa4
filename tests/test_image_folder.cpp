// Tests for --dataset images:DIR (impl/data/image_*.{h,cpp}, jpeg_decode.cpp, png_decode.cpp): the
// decoders' conversions to RGB, the centre crop and the area-average resize against values
// worked out by hand, NCHW order, sorting and the split, the cache (reuse, invalidation, crash
// safety) and every error, on real JPEG and PNG files this test encodes itself with libjpeg and
// libpng.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>  // before jpeglib.h, which uses FILE and size_t without including them
#include <cstdlib>

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/model_options.h"
#include "command_runner.h"
#include "common/error.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/image_folder.h"
#include "data/image_resize.h"
#include "data/sha256.h"
#include "temp_dir.h"

namespace vae {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// Small images keep the folder tests fast; the CelebA geometry has tests of its own.
ImageFolderOptions small_options() {
  ImageFolderOptions o;
  o.crop = 16;
  o.size = 8;
  return o;
}

// ---- the crash test's child ----

// The crash test starts this binary again with VAE_TEST_IMAGE_CRASH_DIR set (and
// VAE_FAULT_KILL_WRITE, which makes the cache's atomic write SIGKILL the process half-way): it
// then only loads that folder, before main and any test, and is killed in the middle.
const bool kIsCrashChild = [] {
  const char* dir = std::getenv("VAE_TEST_IMAGE_CRASH_DIR");
  if (!dir) return false;
  try {
    load_image_folder(dir, small_options());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash child: %s\n", e.what());
    std::_Exit(3);
  }
  std::_Exit(0);  // not killed: the parent reports it
}();

// ---- encoding test images ----

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

Bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

struct PngImage {
  size_t width = 0, height = 0;
  int colour_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  std::vector<uint16_t> samples;      // [height, width, channels of colour_type]
  std::vector<png_color> palette;     // PNG_COLOR_TYPE_PALETTE
  std::vector<png_byte> palette_alpha;  // a tRNS chunk, when not empty
  bool transparent_colour = false;      // a tRNS chunk naming `trans` (grey and RGB)
  png_color_16 trans{};
  bool interlaced = false;
};

int png_channels(int colour_type) {
  switch (colour_type) {
    case PNG_COLOR_TYPE_GRAY: case PNG_COLOR_TYPE_PALETTE: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    default: return 4;
  }
}

void append_png_bytes(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

Bytes encode_png(const PngImage& im) {
  Bytes out;
  const size_t channels = size_t(png_channels(im.colour_type));
  // The packed rows: big-endian 16-bit samples, or bits packed from the most significant end.
  std::vector<Bytes> rows(im.height);
  for (size_t y = 0; y < im.height; ++y) {
    Bytes& row = rows[y];
    row.assign((im.width * channels * size_t(im.bit_depth) + 7) / 8, 0);
    for (size_t i = 0; i < im.width * channels; ++i) {
      const uint16_t v = im.samples[y * im.width * channels + i];
      if (im.bit_depth == 16) {
        row[2 * i] = uint8_t(v >> 8);
        row[2 * i + 1] = uint8_t(v);
      } else {
        const size_t bit = i * size_t(im.bit_depth);
        row[bit / 8] |= uint8_t(v << (8 - im.bit_depth - int(bit % 8)));
      }
    }
  }
  std::vector<png_bytep> pointers;
  for (Bytes& r : rows) pointers.push_back(r.data());

  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    ADD_FAILURE() << "libpng could not encode the test image";
    return {};
  }
  png_set_write_fn(png, &out, append_png_bytes, nullptr);
  png_set_IHDR(png, info, png_uint_32(im.width), png_uint_32(im.height), im.bit_depth, im.colour_type,
               im.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!im.palette.empty()) png_set_PLTE(png, info, im.palette.data(), int(im.palette.size()));
  if (!im.palette_alpha.empty()) png_set_tRNS(png, info, im.palette_alpha.data(), int(im.palette_alpha.size()), nullptr);
  if (im.transparent_colour) png_set_tRNS(png, info, nullptr, 0, &im.trans);
  png_write_info(png, info);
  png_write_image(png, pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// 8-bit RGB [height, width, 3] as a PNG.
Bytes rgb_png(size_t width, size_t height, const Bytes& rgb) {
  PngImage im;
  im.width = width;
  im.height = height;
  im.samples.assign(rgb.begin(), rgb.end());
  return encode_png(im);
}

Bytes solid_rgb(size_t width, size_t height, uint8_t r, uint8_t g, uint8_t b) {
  Bytes rgb;
  for (size_t i = 0; i < width * height; ++i) rgb.insert(rgb.end(), {r, g, b});
  return rgb;
}

Bytes solid_png(size_t width, size_t height, uint8_t r, uint8_t g, uint8_t b) {
  return rgb_png(width, height, solid_rgb(width, height, r, g, b));
}

// The test's encoder takes only valid input, so libjpeg's default error handler (which exits)
// never runs. Quality 100, no chroma subsampling: the closest JPEG gets to the input.
Bytes encode_jpeg(size_t width, size_t height, int components, const Bytes& pixels, bool progressive = false,
                  J_COLOR_SPACE space = JCS_UNKNOWN) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = JDIMENSION(width);
  c.image_height = JDIMENSION(height);
  c.input_components = components;
  c.in_color_space = space != JCS_UNKNOWN ? space : components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  for (int i = 0; i < c.num_components; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + size_t(c.next_scanline) * width * size_t(components));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  Bytes out(buffer, buffer + size);
  std::free(buffer);
  jpeg_destroy_compress(&c);
  return out;
}

// libjpeg's plain decode to RGB (its defaults), to compare ours with on valid files.
Bytes libjpeg_rgb(const Bytes& jpeg) {
  jpeg_decompress_struct d;
  jpeg_error_mgr err;
  d.err = jpeg_std_error(&err);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, jpeg.data(), static_cast<unsigned long>(jpeg.size()));
  jpeg_read_header(&d, TRUE);
  d.out_color_space = JCS_RGB;
  jpeg_start_decompress(&d);
  Bytes rgb(size_t(d.output_width) * d.output_height * 3);
  while (d.output_scanline < d.output_height) {
    JSAMPROW row = rgb.data() + size_t(d.output_scanline) * d.output_width * 3;
    jpeg_read_scanlines(&d, &row, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return rgb;
}

// ---- errors ----

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-vae::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

// Asserts that fn throws a one-line vae::Error that names `what` and contains `phrase`.
#define EXPECT_IMAGE_ERROR(fn, what, phrase)                                 \
  do {                                                                       \
    const std::string msg_ = error_of(fn);                                   \
    EXPECT_NE(msg_.find(what), std::string::npos) << msg_;                   \
    EXPECT_NE(msg_.find(phrase), std::string::npos) << msg_;                 \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << "multi-line: " << msg_; \
  } while (0)

// ---- the decoders ----

Bytes decoded(const Bytes& file) { return decode_image(file.data(), file.size(), "test.png").pixels; }

uint8_t scale16(uint16_t v) { return uint8_t((uint32_t(v) * 255 + 32767) / 65535); }  // round(v * 255 / 65535)

TEST(ImageDecode, PngOfEveryColourTypeBecomesEightBitRgb) {
  PngImage grey;  // 3x1, 8-bit
  grey.width = 3;
  grey.height = 1;
  grey.colour_type = PNG_COLOR_TYPE_GRAY;
  grey.samples = {0, 77, 255};
  EXPECT_EQ(decoded(encode_png(grey)), (Bytes{0, 0, 0, 77, 77, 77, 255, 255, 255}));

  PngImage grey2 = grey;  // 2-bit: 0..3 -> 0, 85, 170, 255
  grey2.width = 4;
  grey2.bit_depth = 2;
  grey2.samples = {0, 1, 2, 3};
  EXPECT_EQ(decoded(encode_png(grey2)), (Bytes{0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));

  PngImage grey16 = grey;  // 16-bit, scaled with rounding, not truncated to the high byte
  grey16.width = 6;
  grey16.bit_depth = 16;
  grey16.samples = {0, 1000, 32767, 32768, 0x8080, 65535};
  const Bytes g16 = decoded(encode_png(grey16));
  ASSERT_EQ(g16.size(), 18u);
  for (size_t i = 0; i < 6; ++i)
    for (size_t c = 0; c < 3; ++c) EXPECT_EQ(g16[3 * i + c], scale16(grey16.samples[i])) << "pixel " << i;
  EXPECT_EQ(scale16(1000), 4);  // 3.89: the high byte alone would be 3
  EXPECT_EQ(scale16(32768), 128);

  PngImage grey_alpha = grey;  // alpha dropped, not composited
  grey_alpha.width = 2;
  grey_alpha.colour_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  grey_alpha.samples = {50, 0, 200, 128};
  EXPECT_EQ(decoded(encode_png(grey_alpha)), (Bytes{50, 50, 50, 200, 200, 200}));

  PngImage grey_trns = grey2;  // a transparent grey level: ignored
  grey_trns.transparent_colour = true;
  grey_trns.trans.gray = 1;
  EXPECT_EQ(decoded(encode_png(grey_trns)), (Bytes{0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));

  PngImage rgb = grey;
  rgb.width = 2;
  rgb.colour_type = PNG_COLOR_TYPE_RGB;
  rgb.samples = {1, 2, 3, 250, 251, 252};
  EXPECT_EQ(decoded(encode_png(rgb)), (Bytes{1, 2, 3, 250, 251, 252}));

  PngImage rgb_trns = rgb;  // a transparent colour: ignored
  rgb_trns.transparent_colour = true;
  rgb_trns.trans.red = 1;
  rgb_trns.trans.green = 2;
  rgb_trns.trans.blue = 3;
  EXPECT_EQ(decoded(encode_png(rgb_trns)), (Bytes{1, 2, 3, 250, 251, 252}));

  PngImage rgba = rgb;
  rgba.colour_type = PNG_COLOR_TYPE_RGB_ALPHA;
  rgba.samples = {1, 2, 3, 0, 250, 251, 252, 17};
  EXPECT_EQ(decoded(encode_png(rgba)), (Bytes{1, 2, 3, 250, 251, 252}));

  PngImage rgb16 = rgb;
  rgb16.bit_depth = 16;
  rgb16.samples = {0, 257 * 9, 65535, 1000, 32768, 40000};
  const Bytes expected16 = {0, 9, 255, scale16(1000), scale16(32768), scale16(40000)};
  EXPECT_EQ(decoded(encode_png(rgb16)), expected16);

  PngImage palette = grey;  // expanded; the tRNS alpha dropped
  palette.colour_type = PNG_COLOR_TYPE_PALETTE;
  palette.palette = {{10, 20, 30}, {200, 100, 0}, {7, 8, 9}};
  palette.palette_alpha = {255, 0, 128};
  palette.samples = {2, 0, 1};
  EXPECT_EQ(decoded(encode_png(palette)), (Bytes{7, 8, 9, 10, 20, 30, 200, 100, 0}));
}

TEST(ImageDecode, InterlacedPngIsDeinterlaced) {
  PngImage im;
  im.width = 9;
  im.height = 7;
  for (size_t i = 0; i < im.width * im.height * 3; ++i) im.samples.push_back(uint16_t((i * 37) % 256));
  const Bytes plain = decoded(encode_png(im));
  im.interlaced = true;
  const Bytes interlaced = encode_png(im);
  EXPECT_EQ(decoded(interlaced), plain);
  EXPECT_EQ(plain, Bytes(im.samples.begin(), im.samples.end()));
}

TEST(ImageDecode, JpegDecodesAsLibjpegDoesAndGreyBecomesRgb) {
  Bytes gradient(178 * 218 * 3);
  for (size_t i = 0; i < gradient.size(); ++i) gradient[i] = uint8_t((i / 3 % 178 + (i % 3) * 40) % 256);
  for (bool progressive : {false, true}) {
    const Bytes jpeg = encode_jpeg(178, 218, 3, gradient, progressive);
    const RgbImage im = decode_image(jpeg.data(), jpeg.size(), "face.jpg");
    EXPECT_EQ(im.width, 178u);
    EXPECT_EQ(im.height, 218u);
    EXPECT_EQ(im.pixels, libjpeg_rgb(jpeg)) << "progressive " << progressive;
    // Quality 100 without subsampling: within a few levels of what was encoded.
    int worst = 0;
    for (size_t i = 0; i < gradient.size(); ++i) worst = std::max(worst, std::abs(int(im.pixels[i]) - int(gradient[i])));
    EXPECT_LE(worst, 4);
  }
  const Bytes grey = encode_jpeg(16, 16, 1, Bytes(256, 77));
  const RgbImage g = decode_image(grey.data(), grey.size(), "grey.jpg");
  ASSERT_EQ(g.pixels.size(), 16u * 16u * 3u);
  for (uint8_t v : g.pixels) ASSERT_EQ(v, 77);  // a flat grey block survives JPEG exactly, in all three channels
}

TEST(ImageDecode, BadFilesAreNamedErrors) {
  const Bytes text = {'h', 'e', 'l', 'l', 'o', '\n'};
  EXPECT_IMAGE_ERROR([&] { decode_image(text.data(), text.size(), "notes.png"); }, "notes.png",
                     "not a JPEG or PNG file (it starts with 68 65 6c 6c 6f 0a)");
  EXPECT_IMAGE_ERROR([&] { decode_image(nullptr, 0, "empty.jpg"); }, "empty.jpg", "the file is empty");

  const Bytes jpeg = encode_jpeg(178, 218, 3, solid_rgb(178, 218, 9, 99, 199));
  const Bytes cut_jpeg(jpeg.begin(), jpeg.begin() + std::ptrdiff_t(jpeg.size() / 2));
  EXPECT_IMAGE_ERROR([&] { decode_image(cut_jpeg.data(), cut_jpeg.size(), "cut.jpg"); }, "cut.jpg",
                     "corrupt or unsupported JPEG: Premature end of JPEG file");
  const Bytes header_only(jpeg.begin(), jpeg.begin() + 20);
  EXPECT_IMAGE_ERROR([&] { decode_image(header_only.data(), header_only.size(), "head.jpg"); }, "head.jpg",
                     "corrupt or unsupported JPEG");

  const Bytes png = solid_png(178, 218, 9, 99, 199);
  for (size_t keep : {png.size() / 2, png.size() - 5, size_t{30}}) {
    const Bytes cut(png.begin(), png.begin() + std::ptrdiff_t(keep));
    EXPECT_IMAGE_ERROR([&] { decode_image(cut.data(), cut.size(), "cut.png"); }, "cut.png",
                       "corrupt PNG: truncated");
  }
  Bytes flipped = png;
  flipped[flipped.size() / 2] ^= 0x55;  // inside IDAT: the chunk's CRC no longer matches
  EXPECT_IMAGE_ERROR([&] { decode_image(flipped.data(), flipped.size(), "flipped.png"); }, "flipped.png",
                     "corrupt PNG");

  Bytes cmyk(8 * 8 * 4, 100);
  const Bytes cmyk_jpeg = encode_jpeg(8, 8, 4, cmyk, false, JCS_CMYK);
  EXPECT_IMAGE_ERROR([&] { decode_image(cmyk_jpeg.data(), cmyk_jpeg.size(), "print.jpg"); }, "print.jpg",
                     "CMYK JPEGs are not supported");
}

TEST(ImageDecode, SizeCheckRunsBeforeDecodingAndTooSmallNamesTheCrop) {
  const Bytes png = solid_png(100, 80, 1, 2, 3);
  EXPECT_EQ(error_of([&] { image_to_chw(png.data(), png.size(), "dir/small.png", 148, 64); }),
            "dir/small.png: image is 100x80, smaller than the 148x148 centre crop (--image-crop)");
  Bytes noise(100 * 200 * 3);  // so that the pixel data, not the headers, is most of the file
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = uint8_t((i * 2654435761u) >> 13);
  const Bytes jpeg = encode_jpeg(100, 200, 3, noise);
  EXPECT_EQ(error_of([&] { image_to_chw(jpeg.data(), jpeg.size(), "dir/narrow.jpg", 148, 64); }),
            "dir/narrow.jpg: image is 100x200, smaller than the 148x148 centre crop (--image-crop)");
  // Refused from the header: the first half of the file (all headers, half of the pixel data)
  // gives the same message, not "truncated", so no pixel was decoded.
  for (const Bytes* file : {&png, &jpeg}) {
    const Bytes half(file->begin(), file->begin() + std::ptrdiff_t(file->size() / 2));
    EXPECT_IMAGE_ERROR([&] { image_to_chw(half.data(), half.size(), "half", 148, 64); }, "half: image is 100x",
                       "smaller than the 148x148 centre crop (--image-crop)");
  }
}

// ---- crop and resize ----

// An RGB image whose channels are given as functions of (x, y).
RgbImage pattern(size_t width, size_t height, const std::function<std::array<uint8_t, 3>(size_t, size_t)>& f) {
  RgbImage im;
  im.width = width;
  im.height = height;
  for (size_t y = 0; y < height; ++y)
    for (size_t x = 0; x < width; ++x) {
      const auto p = f(x, y);
      im.pixels.insert(im.pixels.end(), p.begin(), p.end());
    }
  return im;
}

Bytes resized(const RgbImage& im, size_t crop, size_t size) {
  Bytes out(3 * size * size);
  crop_resize_chw(im, crop, size, out.data());
  return out;
}

TEST(ImageResize, AreaAverageByHand) {
  // 5 -> 2: output 0 covers source [0, 2.5): pixels 0 and 1 whole, half of pixel 2; output 1 the rest.
  //   R = 10x: (0*1 + 10*1 + 20*0.5) / 2.5 = 8 and (20*0.5 + 30 + 40) / 2.5 = 32
  //   G = 10y: the same down the rows
  //   B = x:   0.8 -> 1 and 3.2 -> 3
  const RgbImage im = pattern(5, 5, [](size_t x, size_t y) {
    return std::array<uint8_t, 3>{uint8_t(10 * x), uint8_t(10 * y), uint8_t(x)};
  });
  // NCHW: the R plane row by row, then G, then B.
  EXPECT_EQ(resized(im, 5, 2), (Bytes{8, 32, 8, 32, /**/ 8, 8, 32, 32, /**/ 1, 3, 1, 3}));

  // Halves round up: 2x2 blocks of {0, 1} average 0.5 -> 1, of {2, 3} 2.5 -> 3, of {1, 2} 1.5 -> 2.
  const RgbImage halves = pattern(4, 4, [](size_t x, size_t) {
    return std::array<uint8_t, 3>{uint8_t(x % 2), uint8_t(2 + x % 2), uint8_t(1 + x % 2)};
  });
  EXPECT_EQ(resized(halves, 4, 2), (Bytes{1, 1, 1, 1, /**/ 3, 3, 3, 3, /**/ 2, 2, 2, 2}));
}

TEST(ImageResize, CropIsCentredWithTheOffsetRoundedDown) {
  // 7x6, crop 4: offsets floor(3/2) = 1 and floor(2/2) = 1; size 4 keeps the crop as it is.
  const RgbImage im = pattern(7, 6, [](size_t x, size_t y) {
    return std::array<uint8_t, 3>{uint8_t(x), uint8_t(10 * y), uint8_t(100 + x + 10 * y)};
  });
  const Bytes out = resized(im, 4, 4);
  for (size_t y = 0; y < 4; ++y)
    for (size_t x = 0; x < 4; ++x) {
      EXPECT_EQ(out[0 * 16 + y * 4 + x], x + 1) << x << "," << y;
      EXPECT_EQ(out[1 * 16 + y * 4 + x], 10 * (y + 1)) << x << "," << y;
      EXPECT_EQ(out[2 * 16 + y * 4 + x], 100 + (x + 1) + 10 * (y + 1)) << x << "," << y;
    }
  EXPECT_EQ(crop_offset(178, 148), 15u);  // CelebA: as torchvision's CenterCrop(148)
  EXPECT_EQ(crop_offset(218, 148), 35u);
}

// The area average written the slow, obvious way: for each output pixel, the area of every
// source pixel of the crop inside it (scanning all of them, not computing which few they are),
// in two dimensions at once, then rounded half up. Exact: lengths are counted in units of 1/size
// of a source pixel (output pixel o spans [o*crop, (o+1)*crop), source pixel s spans
// [s*size, (s+1)*size)), so an output pixel's area is crop^2 -- floating point would get ties
// such as 88.5 wrong.
Bytes reference_area_resize(const RgbImage& im, size_t crop, size_t size) {
  const size_t x0 = (im.width - crop) / 2, y0 = (im.height - crop) / 2;
  // (source pixel, length inside output pixel o) for every source pixel with some length inside.
  auto covered = [&](size_t o) {
    std::vector<std::pair<size_t, uint64_t>> parts;
    for (size_t s = 0; s < crop; ++s) {
      const size_t lo = std::max(o * crop, s * size), hi = std::min((o + 1) * crop, (s + 1) * size);
      if (hi > lo) parts.emplace_back(s, hi - lo);
    }
    return parts;
  };
  const uint64_t area = uint64_t(crop) * crop;
  Bytes out(3 * size * size);
  for (size_t oy = 0; oy < size; ++oy)
    for (size_t ox = 0; ox < size; ++ox) {
      const auto rows = covered(oy), cols = covered(ox);
      for (size_t c = 0; c < 3; ++c) {
        uint64_t sum = 0;
        for (const auto& [sy, h] : rows)
          for (const auto& [sx, w] : cols) sum += h * w * im.pixels[((y0 + sy) * im.width + x0 + sx) * 3 + c];
        out[(c * size + oy) * size + ox] = uint8_t((2 * sum + area) / (2 * area));  // floor(sum / area + 1/2)
      }
    }
  return out;
}

TEST(ImageResize, CelebaGeometryMatchesTheReference) {
  // 178x218 like CelebA's aligned faces; R a horizontal ramp, G a vertical one, B a pattern in both.
  const RgbImage im = pattern(178, 218, [](size_t x, size_t y) {
    return std::array<uint8_t, 3>{uint8_t(x), uint8_t(y), uint8_t((7 * x + 3 * y + (x * y) % 11) % 256)};
  });
  // Crop 148 at size 148: exactly the pixels from (15, 35) on.
  const Bytes crop = resized(im, 148, 148);
  for (size_t y = 0; y < 148; y += 7)
    for (size_t x = 0; x < 148; x += 5) {
      ASSERT_EQ(crop[y * 148 + x], 15 + x);
      ASSERT_EQ(crop[148 * 148 + y * 148 + x], 35 + y);
    }
  const Bytes out = resized(im, 148, 64);
  EXPECT_EQ(out, reference_area_resize(im, 148, 64));
  // One value by hand: R of output column 0 covers x in [15, 17.3125) of the image: (15 + 16 + 17 * 0.3125) / 2.3125
  // = 15.70 -> 16, in every row (R depends on x alone).
  EXPECT_EQ(out[0], 16);
  EXPECT_EQ(out[63 * 64], 16);
  // A ratio that is not a short binary fraction, with exact ties: output column 18 covers x in
  // [39 + 48.65, 39 + 51.35) where R = x, whose mean is exactly 88.5 -> 89.
  const Bytes odd = resized(im, 100, 37);
  EXPECT_EQ(odd, reference_area_resize(im, 100, 37));
  EXPECT_EQ(odd[18], 89);
}

TEST(ImageResize, SolidColourSurvivesExactly) {
  const RgbImage im = pattern(178, 218, [](size_t, size_t) { return std::array<uint8_t, 3>{200, 30, 91}; });
  for (const auto& [crop, size] : {std::pair<size_t, size_t>{148, 64}, {148, 37}, {178, 1}, {101, 100}}) {
    const Bytes out = resized(im, crop, size);
    for (size_t i = 0; i < size * size; ++i) {
      ASSERT_EQ(out[i], 200) << crop << "->" << size;
      ASSERT_EQ(out[size * size + i], 30);
      ASSERT_EQ(out[2 * size * size + i], 91);
    }
  }
}

TEST(ImageResize, RefusesACropLargerThanTheImageOrGrowing) {
  const RgbImage im = pattern(10, 12, [](size_t, size_t) { return std::array<uint8_t, 3>{0, 0, 0}; });
  Bytes out(3 * 16 * 16);
  EXPECT_THROW(crop_resize_chw(im, 11, 8, out.data()), Error);
  EXPECT_THROW(crop_resize_chw(im, 8, 9, out.data()), Error);
  EXPECT_THROW(crop_resize_chw(im, 8, 0, out.data()), Error);
}

// ---- the folder: order, split, cache ----

// Names whose split by the documented rule (the first 4 bytes of SHA-256 of the name, big-endian,
// a multiple of 10 -> test) was worked out outside this code, with Python's hashlib: of
// face_01..face_07.png, face_01 and face_03 are test images (face_02.PNG and face_04.JPeG are not);
// of 000001.jpg..000012.jpg, 000012.jpg; of 000009.png..000020.png and 000011.jpg, 000020.png.
const std::vector<std::string> kFaces = {"face_01.png", "face_02.png", "face_03.png",
                                         "face_04.png", "face_05.png", "face_06.png"};

class ImageFolder : public ::testing::Test {
 protected:
  std::string folder(const std::string& name) {
    const std::string dir = tmp_.file(name);
    fs::create_directories(dir);
    return dir;
  }
  // face_NN.png, 20x24, solid R = 10 * NN, G = 255 - NN, B = NN
  static Bytes face(int n) { return solid_png(20, 24, uint8_t(10 * n), uint8_t(255 - n), uint8_t(n)); }
  void write_faces(const std::string& dir, bool reverse = false) {
    std::vector<int> order = {1, 2, 3, 4, 5, 6};
    if (reverse) std::reverse(order.begin(), order.end());
    for (int n : order) write_file(dir + "/" + kFaces[size_t(n - 1)], face(n));
  }
  static std::vector<std::string> listing(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  static bool has_cache_or_temp_file(const std::string& dir) {
    for (const std::string& n : listing(dir))
      if (n.find("vaebench-cache") != std::string::npos || n.find(".tmp.") != std::string::npos) return true;
    return false;
  }
  // The R value of each image of a split (solid images: the first byte of the image).
  static std::vector<int> reds(const Split& s) {
    std::vector<int> r;
    for (size_t i = 0; i < s.count; ++i) r.push_back(s.pixels[i * s.dim()]);
    return r;
  }
  testing::TempDir tmp_;
};

TEST_F(ImageFolder, LoadsSortedSplitByNameAsNchwRgb) {
  const std::string dir = folder("faces");
  write_faces(dir);
  write_file(dir + "/notes.txt", {'x'});              // not an image: ignored
  write_file(dir + "/.hidden.png", {'x'});            // hidden: ignored
  fs::create_directory(dir + "/subfolder.png");       // not a file: ignored
  ImageFolderLoad report;
  const Dataset ds = load_image_folder(dir, small_options(), &report);
  EXPECT_EQ(ds.identity, "images:" + dir);
  EXPECT_FALSE(ds.verified);
  EXPECT_EQ(report.split_rule, "file-name hash");
  for (const Split* s : {&ds.train, &ds.test}) {
    EXPECT_EQ(s->channels, 3u);
    EXPECT_EQ(s->rows, 8u);
    EXPECT_EQ(s->cols, 8u);
    EXPECT_EQ(s->dim(), 192u);
    EXPECT_EQ(s->pixels.size(), s->count * 192);
    EXPECT_EQ(s->labels, Bytes(s->count, 0));
  }
  EXPECT_EQ(reds(ds.train), (std::vector<int>{20, 40, 50, 60}));  // face_02, 04, 05, 06 in name order
  EXPECT_EQ(reds(ds.test), (std::vector<int>{10, 30}));           // face_01, 03
  // NCHW: 64 bytes of R, then 64 of G, then 64 of B, per image.
  const Bytes first(ds.train.pixels.begin(), ds.train.pixels.begin() + 192);
  Bytes expected(64, 20);
  expected.insert(expected.end(), 64, 253);
  expected.insert(expected.end(), 64, 2);
  EXPECT_EQ(first, expected);
  for (const std::string& name : kFaces)
    EXPECT_EQ(is_test_image_name(name), name == "face_01.png" || name == "face_03.png") << name;
  for (int i = 1; i <= 12; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.jpg", i);
    EXPECT_EQ(is_test_image_name(name), i == 12) << name;
  }
}

TEST_F(ImageFolder, SameResultWhateverOrderTheFilesWereCreatedIn) {
  const std::string a = folder("a"), b = folder("b");
  write_faces(a);
  write_faces(b, /*reverse=*/true);
  const Dataset da = load_image_folder(a, small_options()), db = load_image_folder(b, small_options());
  EXPECT_EQ(da.train.pixels, db.train.pixels);
  EXPECT_EQ(da.test.pixels, db.test.pixels);
  EXPECT_EQ(da.combined_sha256, db.combined_sha256);
}

TEST_F(ImageFolder, ExtensionsAreCaseInsensitiveAndContentDecides) {
  const std::string dir = folder("mixed");
  write_faces(dir);
  fs::rename(dir + "/face_02.png", dir + "/face_02.PNG");
  write_file(dir + "/face_04.JPeG", encode_jpeg(20, 24, 3, solid_rgb(20, 24, 40, 251, 4)));
  fs::remove(dir + "/face_04.png");
  const Dataset ds = load_image_folder(dir, small_options());
  EXPECT_EQ(ds.train.count, 4u);
  EXPECT_EQ(ds.test.count, 2u);
  EXPECT_EQ(reds(ds.train)[0], 20);
  EXPECT_NEAR(reds(ds.train)[1], 40, 2);  // the JPEG, within its rounding
}

TEST_F(ImageFolder, CelebaSizedJpegAndPngThroughTheFolder) {
  const std::string dir = folder("celeba");
  const RgbImage ramp = pattern(178, 218, [](size_t x, size_t y) {
    return std::array<uint8_t, 3>{uint8_t(x), uint8_t(y), uint8_t((x + y) / 2)};
  });
  // 000009..000019 train, 000020 test (see kFaces): solid colours, a ramp as JPEG (000011.jpg)
  // and as PNG (000013.png).
  for (int i = 9; i <= 20; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.%s", i, i == 11 ? "jpg" : "png");
    if (i == 11)
      write_file(dir + "/" + name, encode_jpeg(178, 218, 3, ramp.pixels));
    else if (i == 13)
      write_file(dir + "/" + name, rgb_png(178, 218, ramp.pixels));
    else
      write_file(dir + "/" + name, solid_png(178, 218, uint8_t(200 + i), 30, 91));
  }
  ImageFolderOptions celeba;  // the defaults: crop 148, size 64
  const Dataset ds = load_image_folder(dir, celeba);
  ASSERT_EQ(ds.train.count, 11u);
  ASSERT_EQ(ds.test.count, 1u);
  EXPECT_EQ(ds.train.dim(), 3u * 64u * 64u);
  const size_t d = ds.train.dim();
  const Bytes first(ds.train.pixels.begin(), ds.train.pixels.begin() + std::ptrdiff_t(d));
  for (size_t i = 0; i < 64 * 64; ++i) {
    ASSERT_EQ(first[i], 209);
    ASSERT_EQ(first[4096 + i], 30);
    ASSERT_EQ(first[8192 + i], 91);
  }
  const Bytes png_ramp(ds.train.pixels.begin() + std::ptrdiff_t(4 * d), ds.train.pixels.begin() + std::ptrdiff_t(5 * d));
  EXPECT_EQ(png_ramp, reference_area_resize(ramp, 148, 64));
  RgbImage jpeg_decoded = ramp;
  jpeg_decoded.pixels = libjpeg_rgb(encode_jpeg(178, 218, 3, ramp.pixels));
  const Bytes jpeg_ramp(ds.train.pixels.begin() + std::ptrdiff_t(2 * d), ds.train.pixels.begin() + std::ptrdiff_t(3 * d));
  EXPECT_EQ(jpeg_ramp, reference_area_resize(jpeg_decoded, 148, 64));
  EXPECT_EQ(ds.test.pixels[0], 220);
}

TEST_F(ImageFolder, PartitionFileDecidesTheSplit) {
  const std::string dir = folder("partition");
  for (int i = 1; i <= 6; ++i) write_file(dir + "/00000" + std::to_string(i) + ".png", face(i));
  write_file(dir + "/000003.png", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});  // partition 1: never read
  const std::string partition = "000001.png 0\r\n000002.png 0\n000003.png 1\n\n000004.png 2\n000005.png 0\n000006.png 2\n"
                                "000099.png 0\n";  // listed but absent: ignored
  write_file(dir + "/list_eval_partition.txt", Bytes(partition.begin(), partition.end()));
  ImageFolderLoad report;
  const Dataset ds = load_image_folder(dir, small_options(), &report);
  EXPECT_EQ(report.split_rule, "list_eval_partition.txt");
  EXPECT_EQ(report.decoded, 5u);
  EXPECT_EQ(reds(ds.train), (std::vector<int>{10, 20, 50}));
  EXPECT_EQ(reds(ds.test), (std::vector<int>{40, 60}));

  // A changed partition file rebuilds; a missing line and a malformed one are named errors.
  const std::string moved = "000001.png 2\n000002.png 0\n000003.png 1\n000004.png 2\n000005.png 0\n000006.png 0\n";
  write_file(dir + "/list_eval_partition.txt", Bytes(moved.begin(), moved.end()));
  const Dataset again = load_image_folder(dir, small_options(), &report);
  EXPECT_FALSE(report.cache_reused);
  EXPECT_NE(report.rebuild_reason.find("split rule differs"), std::string::npos) << report.rebuild_reason;
  EXPECT_EQ(reds(again.test), (std::vector<int>{10, 40}));
  const std::string missing = "000001.png 0\n000002.png 0\n000003.png 1\n000004.png 2\n000005.png 0\n";
  write_file(dir + "/list_eval_partition.txt", Bytes(missing.begin(), missing.end()));
  EXPECT_EQ(error_of([&] { load_image_folder(dir, small_options()); }),
            dir + "/list_eval_partition.txt: has no line for 000006.png (every image in the folder needs one)");
  const std::string bad = "000001.png 0\n000002.png train\n";
  write_file(dir + "/list_eval_partition.txt", Bytes(bad.begin(), bad.end()));
  EXPECT_EQ(error_of([&] { load_image_folder(dir, small_options()); }),
            dir + "/list_eval_partition.txt:2: expected '<file name> <0|1|2>', got '000002.png train'");
}

TEST_F(ImageFolder, SecondLoadReusesTheCacheWithoutDecoding) {
  const std::string dir = folder("cached");
  write_faces(dir);
  ImageFolderLoad first, second;
  const Dataset a = load_image_folder(dir, small_options(), &first);
  EXPECT_FALSE(first.cache_reused);
  EXPECT_EQ(first.decoded, 6u);
  EXPECT_EQ(first.rebuild_reason, "no cache yet");
  EXPECT_EQ(first.manifest_path, dir + "/vaebench-cache-c16-s8.json");
  EXPECT_EQ(first.array_path, dir + "/vaebench-cache-c16-s8.u8");

  // Replace a file's content keeping its size and modification time: the quick check cannot
  // see that (documented), and a decode of it would fail -- so a load that succeeds did not decode.
  const std::string victim = dir + "/face_04.png";
  struct stat before;
  ASSERT_EQ(::stat(victim.c_str(), &before), 0);
  const Bytes original = read_file(victim);
  write_file(victim, Bytes(original.size(), 'z'));
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, victim.c_str(), times, 0), 0);

  const Dataset b = load_image_folder(dir, small_options(), &second);
  EXPECT_TRUE(second.cache_reused);
  EXPECT_EQ(second.decoded, 0u);
  EXPECT_EQ(second.rebuild_reason, "");
  EXPECT_EQ(a.train.pixels, b.train.pixels);
  EXPECT_EQ(a.test.pixels, b.test.pixels);
  EXPECT_EQ(b.train.channels, 3u);
  EXPECT_EQ(a.combined_sha256, b.combined_sha256);
  EXPECT_EQ(a.combined_sha256, sha256_hex_of_file(first.array_path));
  ASSERT_EQ(b.files.size(), 1u);
  EXPECT_EQ(b.files[0].path, first.array_path);
  EXPECT_EQ(b.files[0].sha256, b.combined_sha256);

  // The manifest: every source with its size and the SHA-256 of the bytes that were decoded.
  write_file(victim, original);
  const nlohmann::json m = nlohmann::json::parse(read_file(first.manifest_path));
  EXPECT_EQ(m["format"], "vaebench image cache v1");
  EXPECT_EQ(m["preprocessing"]["crop"], 16);
  EXPECT_EQ(m["preprocessing"]["size"], 8);
  EXPECT_EQ(m["preprocessing"]["layout"], "NCHW uint8");
  EXPECT_EQ(m["libraries"], image_library_versions());
  EXPECT_EQ(m["array"]["sha256"], a.combined_sha256);
  EXPECT_EQ(m["array"]["bytes"], 6 * 192);
  ASSERT_EQ(m["files"].size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(m["files"][i]["name"], kFaces[i]);
    EXPECT_EQ(m["files"][i]["sha256"], sha256_hex_of_file(dir + "/" + kFaces[i]));
    EXPECT_EQ(m["files"][i]["size"], fs::file_size(dir + "/" + kFaces[i]));
    EXPECT_EQ(m["files"][i]["split"], i == 0 || i == 2 ? "test" : "train");
  }
}

// Moves a file's modification time one second on, as a later edit would.
void touch_later(const std::string& path) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  times[1].tv_sec += 1;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST_F(ImageFolder, ChangedAddedOrRemovedFilesRebuild) {
  const std::string dir = folder("changing");
  write_faces(dir);
  ImageFolderLoad r;
  load_image_folder(dir, small_options(), &r);

  write_file(dir + "/face_04.png", solid_png(20, 24, 44, 0, 0));  // same size as before, later mtime
  touch_later(dir + "/face_04.png");
  Dataset ds = load_image_folder(dir, small_options(), &r);
  EXPECT_FALSE(r.cache_reused);
  EXPECT_EQ(r.rebuild_reason, "face_04.png changed (size or modification time)");
  EXPECT_EQ(r.decoded, 6u);
  EXPECT_EQ(reds(ds.train), (std::vector<int>{20, 44, 50, 60}));

  // The same bytes written again later: the modification time alone rebuilds.
  write_file(dir + "/face_06.png", face(6));
  touch_later(dir + "/face_06.png");
  load_image_folder(dir, small_options(), &r);
  EXPECT_EQ(r.rebuild_reason, "face_06.png changed (size or modification time)");

  write_file(dir + "/face_07.png", face(7));
  ds = load_image_folder(dir, small_options(), &r);
  EXPECT_EQ(r.rebuild_reason, "face_07.png was added");
  EXPECT_EQ(ds.train.count, 5u);

  fs::remove(dir + "/face_02.png");
  ds = load_image_folder(dir, small_options(), &r);
  EXPECT_EQ(r.rebuild_reason, "face_02.png was removed");
  EXPECT_EQ(reds(ds.train), (std::vector<int>{44, 50, 60, 70}));

  load_image_folder(dir, small_options(), &r);
  EXPECT_TRUE(r.cache_reused);

  // Other options: a cache of their own beside the first, which stays valid.
  ImageFolderOptions other = small_options();
  other.size = 4;
  ds = load_image_folder(dir, other, &r);
  EXPECT_EQ(r.rebuild_reason, "no cache yet");
  EXPECT_EQ(ds.train.dim(), 48u);
  load_image_folder(dir, small_options(), &r);
  EXPECT_TRUE(r.cache_reused);
}

TEST_F(ImageFolder, DamagedCacheIsRebuiltNotTrusted) {
  const std::string dir = folder("damaged");
  write_faces(dir);
  ImageFolderLoad r;
  const Dataset good = load_image_folder(dir, small_options(), &r);

  Bytes array = read_file(r.array_path);
  array[100] ^= 1;
  write_file(r.array_path, array);
  Dataset ds = load_image_folder(dir, small_options(), &r);
  EXPECT_FALSE(r.cache_reused);
  EXPECT_NE(r.rebuild_reason.find("SHA-256 differs from its manifest's"), std::string::npos) << r.rebuild_reason;
  EXPECT_EQ(ds.train.pixels, good.train.pixels);

  array = read_file(r.array_path);
  array.pop_back();
  write_file(r.array_path, array);
  load_image_folder(dir, small_options(), &r);
  EXPECT_NE(r.rebuild_reason.find("shorter than its manifest says"), std::string::npos) << r.rebuild_reason;

  const Bytes manifest = read_file(r.manifest_path);
  write_file(r.manifest_path, Bytes(manifest.begin(), manifest.begin() + std::ptrdiff_t(manifest.size() / 2)));
  ds = load_image_folder(dir, small_options(), &r);
  EXPECT_NE(r.rebuild_reason.find("manifest is not valid JSON"), std::string::npos) << r.rebuild_reason;
  EXPECT_EQ(ds.combined_sha256, good.combined_sha256);
}

TEST_F(ImageFolder, SeparateCacheFolderForAReadOnlyImageFolder) {
  const std::string dir = folder("read-only-faces"), cache = tmp_.file("caches/images");
  write_faces(dir);
  ImageFolderOptions o = small_options();
  o.cache_dir = cache;  // created when absent
  ImageFolderLoad r;
  const Dataset a = load_image_folder(dir, o, &r);
  EXPECT_FALSE(has_cache_or_temp_file(dir));
  EXPECT_EQ(fs::path(r.manifest_path).parent_path(), fs::path(cache));
  const std::string name = fs::path(r.manifest_path).filename().string();
  EXPECT_EQ(name.rfind("vaebench-cache-read-only-faces-", 0), 0u) << name;
  EXPECT_EQ(name.size(), std::string("vaebench-cache-read-only-faces-").size() + 12 + std::string("-c16-s8.json").size());
  const Dataset b = load_image_folder(dir, o, &r);
  EXPECT_TRUE(r.cache_reused);
  EXPECT_EQ(a.combined_sha256, b.combined_sha256);

  // A cache location that cannot be made is refused before anything is decoded.
  write_file(tmp_.file("a-file"), {'x'});
  o.cache_dir = tmp_.file("a-file") + "/cache";
  EXPECT_IMAGE_ERROR([&] { load_image_folder(dir, o); }, "--image-cache " + o.cache_dir, "cannot create the folder");
}

// ---- errors ----

TEST_F(ImageFolder, EachBadFileIsANamedErrorAndNoCacheIsLeft) {
  struct Case {
    std::string name;
    Bytes bytes;
    std::string phrase;
  };
  const Bytes jpeg = encode_jpeg(178, 218, 3, solid_rgb(178, 218, 1, 2, 3));
  const Bytes png = solid_png(178, 218, 1, 2, 3);
  const std::vector<Case> cases = {
      {"face_04.jpg", Bytes(jpeg.begin(), jpeg.begin() + std::ptrdiff_t(jpeg.size() / 2)), "Premature end of JPEG file"},
      {"face_04.png", Bytes(png.begin(), png.begin() + std::ptrdiff_t(png.size() / 2)), "corrupt PNG: truncated"},
      {"face_04.png", {'J', 'u', 's', 't', ' ', 't', 'e', 'x', 't'}, "not a JPEG or PNG file"},
      {"face_04.png", solid_png(15, 40, 1, 2, 3), "image is 15x40, smaller than the 16x16 centre crop (--image-crop)"},
      {"face_04.png", {}, "not a JPEG or PNG file (the file is empty)"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string dir = folder("bad" + std::to_string(n++));
    write_faces(dir);
    fs::remove(dir + "/face_04.png");
    write_file(dir + "/" + c.name, c.bytes);
    const std::vector<std::string> before = listing(dir);
    EXPECT_IMAGE_ERROR([&] { load_image_folder(dir, small_options()); }, dir + "/" + c.name + ": ", c.phrase);
    EXPECT_EQ(listing(dir), before) << "a failed build left a file behind in " << dir;
    EXPECT_FALSE(has_cache_or_temp_file(dir));
  }

  // A bad file in a folder that had a good cache: refused, and the old cache (which no longer
  // describes the folder) is never used in its place.
  const std::string dir = folder("went-bad");
  write_faces(dir);
  load_image_folder(dir, small_options());
  write_file(dir + "/face_05.png", {'o', 'o', 'p', 's'});
  EXPECT_IMAGE_ERROR([&] { load_image_folder(dir, small_options()); }, dir + "/face_05.png", "not a JPEG or PNG");
  EXPECT_IMAGE_ERROR([&] { load_image_folder(dir, small_options()); }, dir + "/face_05.png", "not a JPEG or PNG");
}

TEST_F(ImageFolder, FolderProblemsEachHaveTheirOwnMessage) {
  const std::string missing = tmp_.file("no-such-folder");
  EXPECT_EQ(error_of([&] { load_image_folder(missing, small_options()); }), missing + ": image folder does not exist");
  const std::string empty = folder("empty");
  EXPECT_EQ(error_of([&] { load_image_folder(empty, small_options()); }), empty + ": the image folder is empty");
  const std::string text = folder("text");
  write_file(text + "/readme.txt", {'x'});
  write_file(text + "/image.gif", {'x'});
  EXPECT_EQ(error_of([&] { load_image_folder(text, small_options()); }),
            text + ": no .jpg, .jpeg or .png files among its 2 entries");
  const std::string file = tmp_.file("plain-file");
  write_file(file, {'x'});
  EXPECT_IMAGE_ERROR([&] { load_image_folder(file, small_options()); }, file, "not a folder");
  const std::string one = folder("one");
  write_file(one + "/face_02.png", face(2));  // a training image only
  EXPECT_EQ(error_of([&] { load_image_folder(one, small_options()); }),
            one + ": the test split is empty (1 train, 0 test of 1 images by file-name hash)");
  for (const std::string& d : {empty, text, one}) EXPECT_FALSE(has_cache_or_temp_file(d)) << d;
}

// ---- crash safety ----

// Runs this test binary as the crash child (above) on `dir`, killed at the n-th atomic write of a
// path ending in `suffix`; returns its exit status as the shell reports it (137 = SIGKILL).
int run_crash_child(const std::string& dir, const std::string& suffix) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const testing::CommandResult r =
      testing::run("VAE_TEST_IMAGE_CRASH_DIR='" + dir + "' VAE_FAULT_KILL_WRITE='" + suffix + ":1' '" + self +
                   "'; echo \"status $?\"");
  const size_t at = r.output.rfind("status ");
  return at == std::string::npos ? -1 : std::atoi(r.output.c_str() + at + 7);
}

TEST_F(ImageFolder, KilledMidWriteLeavesNothingTrustedAndTheNextLoadRebuilds) {
  for (const std::string suffix : {".u8", ".json"}) {
    const std::string dir = folder("killed" + suffix);
    write_faces(dir);
    const Dataset good = load_image_folder(dir, small_options());
    write_file(dir + "/face_05.png", face(55));  // the cache must be rebuilt...
    touch_later(dir + "/face_05.png");
    EXPECT_EQ(run_crash_child(dir, suffix), 128 + 9) << suffix;  // ...and the process dies half-way
    // The old manifest went first, so nothing describes the half-written files.
    EXPECT_FALSE(fs::exists(dir + "/vaebench-cache-c16-s8.json")) << suffix;
    ImageFolderLoad r;
    const Dataset ds = load_image_folder(dir, small_options(), &r);
    EXPECT_FALSE(r.cache_reused);
    EXPECT_EQ(r.rebuild_reason, "no cache yet");
    EXPECT_EQ(reds(ds.train), (std::vector<int>{20, 40, 550 % 256, 60}));  // face(55): R = uint8(550)
    EXPECT_NE(ds.combined_sha256, good.combined_sha256);
    for (const std::string& n : listing(dir)) EXPECT_EQ(n.find(".tmp."), std::string::npos) << n;  // temporaries of the dead process removed
    load_image_folder(dir, small_options(), &r);
    EXPECT_TRUE(r.cache_reused);
  }
}

// ---- the dataset kinds and the command line ----

TEST(ImageOptions, DatasetKindAndItsFolder) {
  EXPECT_EQ(parse_dataset_kind("images:/data/celeba"), DatasetKind::Images);
  EXPECT_EQ(image_folder_of("images:/data/celeba"), "/data/celeba");
  EXPECT_EQ(image_folder_of("images:relative/dir"), "relative/dir");
  EXPECT_EQ(to_string(DatasetKind::Images), "images");
  EXPECT_IMAGE_ERROR([] { parse_dataset_kind("images:"); }, "images:DIR", "no folder after 'images:'");
  EXPECT_EQ(error_of([] { parse_dataset_kind("cifar"); }),
            "--dataset: unknown value 'cifar', expected one of: mnist, fashion-mnist, images:DIR");
  EXPECT_EQ(parse_dataset_kind("mnist"), DatasetKind::Mnist);
  EXPECT_EQ(parse_dataset_kind("fashion-mnist"), DatasetKind::FashionMnist);
  EXPECT_THROW(default_data_dir(DatasetKind::Images), Error);
  Split mnist_like;
  mnist_like.rows = mnist_like.cols = 28;
  EXPECT_EQ(mnist_like.channels, 1u);
  EXPECT_EQ(mnist_like.dim(), 784u);
}

TEST(ImageOptions, RangesAreCheckedNamingTheOption) {
  ImageFolderOptions o;
  check_image_folder_options(o);
  o.size = 0;
  EXPECT_EQ(error_of([&] { check_image_folder_options(o); }), "--image-size: 0 is out of range 1..1024");
  o.size = 149;
  EXPECT_EQ(error_of([&] { check_image_folder_options(o); }),
            "--image-size: 149 is larger than --image-crop 148; images are only shrunk (area averaging), never enlarged");
  o.size = 64;
  o.crop = 9000;
  EXPECT_EQ(error_of([&] { check_image_folder_options(o); }), "--image-crop: 9000 is out of range 1..8192");
}

cli::DataOptions parse_data_options(const std::vector<std::string>& args) {
  CLI::App app{"test"};
  cli::DataOptions o;
  cli::add_data_options(app, o);
  std::vector<const char*> argv = {"vaebench"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(int(argv.size()), argv.data());
  return o;
}

TEST_F(ImageFolder, CommandLineOptions) {
  const std::string dir = folder("cli");
  write_faces(dir);
  const cli::DataOptions o =
      parse_data_options({"--dataset", "images:" + dir, "--image-size", "4", "--image-crop", "12"});
  EXPECT_EQ(o.kind(), DatasetKind::Images);
  EXPECT_EQ(o.resolved_dir(), dir);
  const ImageFolderOptions io = o.image_options();
  EXPECT_EQ(io.size, 4u);
  EXPECT_EQ(io.crop, 12u);
  const Dataset ds = o.load();
  EXPECT_EQ(ds.identity, "images:" + dir);
  EXPECT_EQ(ds.train.dim(), 48u);
  EXPECT_TRUE(fs::exists(dir + "/vaebench-cache-c12-s4.u8"));

  const cli::DataOptions defaults = parse_data_options({"--dataset", "images:" + dir});
  EXPECT_EQ(defaults.image_options().size, 64u);
  EXPECT_EQ(defaults.image_options().crop, 148u);
  EXPECT_EQ(parse_data_options({}).kind(), DatasetKind::Mnist);  // the default stays

  EXPECT_EQ(error_of([] { parse_data_options({"--image-size", "32"}).image_options(); }),
            "--image-size: only used with --dataset images:DIR, not mnist");
  EXPECT_EQ(error_of([] { parse_data_options({"--dataset", "fashion-mnist", "--image-cache", "/tmp"}).load(); }),
            "--image-cache: only used with --dataset images:DIR, not fashion-mnist");
  EXPECT_EQ(error_of([&] { parse_data_options({"--dataset", "images:" + dir, "--data", "x"}).load(); }),
            "--data: not used with --dataset images:DIR (the folder is part of its value)");
  EXPECT_EQ(error_of([&] { parse_data_options({"--dataset", "images:" + dir, "--image-size", "-3"}).load(); }),
            "--image-size: -3 must be at least 1");
  EXPECT_EQ(error_of([&] { parse_data_options({"--dataset", "images:" + dir, "--image-crop", "10"}).load(); }),
            "--image-size: 64 is larger than --image-crop 10; images are only shrunk (area averaging), never enlarged");
  EXPECT_THROW(parse_data_options({"--image-size", "big"}), CLI::ParseError);
}

}  // namespace
}  // namespace vae
