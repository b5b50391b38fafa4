// Tests for impl/pictures: PNG round trips and rejections, atomic PNG writes, grid layout,
// scatter-plot placement, colours and clipping, and the bitmap font.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pictures/canvas.h"
#include "pictures/png.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace vae;

namespace {

using vae::testing::TempDir;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Image gradient(int w, int h, int c) {
  Image img(w, h, c);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 37 + i / 7);
  return img;
}

int count_non_white(const Image& img, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = img.at(x, y);
      if (p[0] != 255 || p[1] != 255 || p[2] != 255) ++n;
    }
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------
TEST(Png, GreyAndRgbRoundTrip) {
  TempDir dir;
  for (int channels : {1, 3}) {
    Image img = gradient(13, 7, channels);
    std::string path = dir.file("img" + std::to_string(channels) + ".png");
    write_png(path, img);
    Image back = read_png(path);
    EXPECT_EQ(back.width, 13);
    EXPECT_EQ(back.height, 7);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, img.pixels);
  }
  EXPECT_EQ(dir.listing().size(), 2u);  // no temp files left behind
}

TEST(Png, EncodeProducesPngSignature) {
  std::vector<uint8_t> bytes = encode_png(Image(4, 3, 1, 200));
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 8),
            (std::vector<uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}));
}

TEST(Png, EncodeRejectsBadImages) {
  Image empty;
  EXPECT_NE(error_of([&] { encode_png(empty); }).find("empty"), std::string::npos);
  Image short_pixels(4, 4, 3);
  short_pixels.pixels.pop_back();
  EXPECT_NE(error_of([&] { encode_png(short_pixels); }).find("pixel bytes"), std::string::npos);
  Image two_channels(2, 2, 1);
  two_channels.channels = 2;
  two_channels.pixels.resize(8);
  EXPECT_NE(error_of([&] { encode_png(two_channels); }).find("2 channels"), std::string::npos);
  EXPECT_THROW(Image(2, 2, 4), Error);
  EXPECT_THROW(Image(-1, 2, 1), Error);
}

TEST(Png, WriteToMissingDirectoryNamesPathAndLeavesNothing) {
  TempDir dir;
  std::string path = dir.file("missing/sub/out.png");
  std::string msg = error_of([&] { write_png(path, Image(2, 2, 1)); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(dir.listing().size(), 0u);
}

TEST(Png, WriteOfBadImageNamesPath) {
  TempDir dir;
  std::string path = dir.file("bad.png");
  std::string msg = error_of([&] { write_png(path, Image()); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_FALSE(fs::exists(path));
}

TEST(Png, ReadRejectsNonPngAndMissingFiles) {
  TempDir dir;
  std::string path = dir.file("not.png");
  std::ofstream(path) << "hello, not a picture";
  std::string msg = error_of([&] { read_png(path); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("not a PNG"), std::string::npos) << msg;
  std::string missing = dir.file("nope.png");
  EXPECT_EQ(error_of([&] { read_png(missing); }).rfind(missing + ": ", 0), 0u);
}

TEST(Png, ReadRejectsTruncatedFile) {
  TempDir dir;
  std::vector<uint8_t> bytes = encode_png(gradient(20, 20, 3));
  std::string path = dir.file("cut.png");
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 40);
  EXPECT_EQ(error_of([&] { read_png(path); }).rfind(path + ": ", 0), 0u);
}

// ---------------------------------------------------------------------------------------
// Grids
// ---------------------------------------------------------------------------------------
TEST(Grid, TilesLandAtDocumentedPositions) {
  const int n = 5, h = 3, w = 4, cols = 2, pad = 2;
  std::vector<float> images(n * h * w);
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < h * w; ++i) images[k * h * w + i] = k == 3 ? 1.0f : 0.1f * k;
  images[3 * h * w + w + 1] = 0.5f;    // tile 3, pixel (1, 1)
  images[0] = -2.0f;                   // clamped to 0
  images[1] = 7.0f;                    // clamped to 1
  Image g = image_grid(images.data(), n, {1, h, w}, cols, pad);
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.width, cols * (w + pad) + pad);
  EXPECT_EQ(g.height, 3 * (h + pad) + pad);
  // Tile 3 is row 1, column 1.
  int x3 = pad + 1 * (w + pad), y3 = pad + 1 * (h + pad);
  EXPECT_EQ(*g.at(x3, y3), 255);
  EXPECT_EQ(*g.at(x3 + w - 1, y3 + h - 1), 255);
  EXPECT_EQ(*g.at(x3 + 1, y3 + 1), 128);  // round(0.5 * 255)
  EXPECT_EQ(*g.at(x3 - 1, y3), kGridPadValue);
  EXPECT_EQ(*g.at(x3 + w, y3), kGridPadValue);
  // Tile 2 is row 1, column 0, value round(0.2 * 255) = 51.
  EXPECT_EQ(*g.at(pad, pad + h + pad), 51);
  EXPECT_EQ(*g.at(pad, pad), 0);
  EXPECT_EQ(*g.at(pad + 1, pad), 255);
  // Row 2 has only tile 4; its second cell is padding.
  EXPECT_EQ(*g.at(pad + w + pad, pad + 2 * (h + pad)), kGridPadValue);
  EXPECT_EQ(*g.at(0, 0), kGridPadValue);
}

TEST(Grid, FewerImagesThanColumnsShrinksWidth) {
  std::vector<float> images(2 * 4, 1.0f);
  Image g = image_grid(images.data(), 2, {1, 2, 2}, 8, 1);
  EXPECT_EQ(g.width, 2 * 3 + 1);
  EXPECT_EQ(g.height, 4);
}

TEST(Grid, RejectsBadArguments) {
  std::vector<float> images(4, 0.0f);
  EXPECT_THROW(image_grid(images.data(), 0, {1, 2, 2}, 1), Error);
  EXPECT_THROW(image_grid(images.data(), 1, {1, 2, 2}, 0), Error);
  EXPECT_THROW(image_grid(images.data(), 1, {1, 2, 2}, 1, -1), Error);
  EXPECT_THROW(image_grid(nullptr, 1, {1, 2, 2}, 1), Error);
  EXPECT_THROW(image_grid(images.data(), 1, {2, 2, 2}, 1), Error);  // neither grey nor RGB
}

TEST(Grid, ComparisonRowsAlternateOriginalsAndReconstructions) {
  const int n = 3, h = 2, w = 2, cols = 2, pad = 1;
  std::vector<float> orig(n * h * w), recon(n * h * w);
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < h * w; ++i) {
      orig[k * h * w + i] = (10.0f + k) / 255.0f;
      recon[k * h * w + i] = (100.0f + k) / 255.0f;
    }
  Image g = comparison_grid(orig.data(), recon.data(), n, {1, h, w}, cols, pad);
  EXPECT_EQ(g.height, 4 * (h + pad) + pad);
  EXPECT_EQ(g.width, cols * (w + pad) + pad);
  auto tile = [&](int row, int col) { return *g.at(pad + col * (w + pad), pad + row * (h + pad)); };
  EXPECT_EQ(tile(0, 0), 10);
  EXPECT_EQ(tile(0, 1), 11);
  EXPECT_EQ(tile(1, 0), 100);
  EXPECT_EQ(tile(1, 1), 101);
  EXPECT_EQ(tile(2, 0), 12);
  EXPECT_EQ(tile(3, 0), 102);
  EXPECT_EQ(tile(2, 1), kGridPadValue);
  EXPECT_EQ(tile(3, 1), kGridPadValue);
}

// The models' RGB output is planar (NCHW: the red plane, then green, then blue); the grid's
// pixels are interleaved. A grid that read the planes as pixels would mix the colours.
TEST(Grid, RgbTilesComeFromTheThreePlanes) {
  const int h = 2, w = 3;
  std::vector<float> images(2 * 3 * h * w);
  for (int k = 0; k < 2; ++k)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < h * w; ++i) images[size_t((k * 3 + c) * h * w + i)] = float(10 * k + 50 * c + i) / 255.0f;
  Image g = image_grid(images.data(), 2, {3, h, w}, 2, 1);
  ASSERT_EQ(g.channels, 3);
  for (int k = 0; k < 2; ++k)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const uint8_t* p = g.at(1 + k * (w + 1) + x, 1 + y);
        for (int c = 0; c < 3; ++c)
          EXPECT_EQ(p[c], 10 * k + 50 * c + y * w + x) << "tile " << k << " (" << x << ", " << y << ") channel " << c;
      }
  EXPECT_EQ(g.at(0, 0)[2], kGridPadValue);
}

// ---------------------------------------------------------------------------------------
// Scatter plot
// ---------------------------------------------------------------------------------------
TEST(Scatter, PointOfLabel3IsDrawnInTab10RedAtItsPosition) {
  const int size = 101;  // (size - 1) / 6 = 50/3 px per unit
  float xy[] = {1.5f, -1.5f};
  uint8_t labels[] = {3};
  int clipped = -1;
  Image img = scatter_plot(xy, labels, 1, -3.0f, 3.0f, size, &clipped);
  EXPECT_EQ(clipped, 0);
  ASSERT_EQ(img.channels, 3);
  // x: (1.5 + 3) / 6 * 100 = 75; y: (3 - -1.5) / 6 * 100 = 75.
  int px = kScatterLeft + 75, py = kScatterTop + 75;
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx) {
      const uint8_t* p = img.at(px + dx, py + dy);
      EXPECT_EQ(std::vector<int>(p, p + 3), (std::vector<int>{214, 39, 40})) << dx << "," << dy;
    }
  const uint8_t* beside = img.at(px + 3, py);
  EXPECT_EQ(std::vector<int>(beside, beside + 3), (std::vector<int>{255, 255, 255}));
}

TEST(Scatter, ClipsOutOfRangeAndNaNPointsAndLaterPointsWin) {
  float xy[] = {0.0f, 0.0f, 0.0f, 0.0f, 3.5f, 0.0f, 0.0f, -9.0f, std::nanf(""), 1.0f};
  uint8_t labels[] = {1, 2, 0, 0, 0};
  int clipped = -1;
  const int size = 64;
  Image img = scatter_plot(xy, labels, 5, -3.0f, 3.0f, size, &clipped);
  EXPECT_EQ(clipped, 3);
  const uint8_t* centre = img.at(kScatterLeft + 32, kScatterTop + 32);  // round(3/6 * 63) = 32
  EXPECT_EQ(std::vector<int>(centre, centre + 3), (std::vector<int>{44, 160, 44}));  // label 2, drawn last
  // The plot area holds the two axis lines (crossing at the dot's centre) and one dot, which
  // adds its 4 corner pixels; nothing from the clipped points.
  int drawn = count_non_white(img, kScatterLeft, kScatterTop, kScatterLeft + size, kScatterTop + size);
  EXPECT_EQ(drawn, (2 * size - 1) + 4);
}

TEST(Scatter, HasFrameTicksAndLegend) {
  const int size = 200;
  Image img = scatter_plot(nullptr, nullptr, 0, -3.0f, 3.0f, size);
  // Frame just outside the plot area.
  const uint8_t* corner = img.at(kScatterLeft - 1, kScatterTop - 1);
  EXPECT_EQ(std::vector<int>(corner, corner + 3), (std::vector<int>{0, 0, 0}));
  // Tick labels below the plot and to its left, legend to its right.
  EXPECT_GT(count_non_white(img, 0, kScatterTop + size + 2, img.width, img.height), 0);
  EXPECT_GT(count_non_white(img, 0, 0, kScatterLeft - 8, img.height), 0);
  int legend_x = kScatterLeft + size + 2;
  EXPECT_GT(count_non_white(img, legend_x, 0, img.width, img.height), 10 * 14 * 14);
}

TEST(Scatter, RejectsBadArguments) {
  float xy[] = {0.0f, 0.0f};
  uint8_t bad_label[] = {10};
  EXPECT_NE(error_of([&] { scatter_plot(xy, bad_label, 1, -3, 3); }).find("label 10"), std::string::npos);
  uint8_t ok[] = {0};
  EXPECT_THROW(scatter_plot(xy, ok, 1, 3, 3), Error);
  EXPECT_THROW(scatter_plot(xy, ok, 1, -3, 3, 4), Error);
  EXPECT_THROW(scatter_plot(nullptr, ok, 1, -3, 3), Error);
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------
TEST(Text, DrawsWithinItsWidthAndHeight) {
  const uint8_t red[3] = {255, 0, 0};
  for (int scale : {1, 3}) {
    Image img(200, 40, 3, 255);  // wide enough: nothing is clipped
    std::string text = "Ab-3.:";
    draw_text(img, 5, 6, text, red, scale);
    int inked = 0, min_x = img.width, max_x = -1, min_y = img.height, max_y = -1;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x) {
        const uint8_t* p = img.at(x, y);
        if (p[0] == 255 && p[1] == 255 && p[2] == 255) continue;
        EXPECT_EQ(std::vector<int>(p, p + 3), (std::vector<int>{255, 0, 0}));
        ++inked;
        min_x = std::min(min_x, x), max_x = std::max(max_x, x);
        min_y = std::min(min_y, y), max_y = std::max(max_y, y);
      }
    EXPECT_GT(inked, 0);
    EXPECT_EQ(inked % (scale * scale), 0);
    EXPECT_EQ(min_x, 5);  // 'A' has ink in its first column
    EXPECT_LE(max_x, 5 + text_width(text, scale) - 1);
    EXPECT_EQ(min_y, 6);
    EXPECT_EQ(max_y, 6 + 7 * scale - 1);
  }
  EXPECT_EQ(text_width("", 2), 0);
  EXPECT_EQ(text_width("7", 1), 5);
  EXPECT_EQ(text_width("-3", 2), 22);
}

TEST(Text, LowerCaseMatchesUpperCaseAndGreyUsesLuma) {
  const uint8_t white[3] = {255, 255, 255};
  Image lower(40, 10, 1), upper(40, 10, 1);
  draw_text(lower, 1, 1, "xyz", white, 1);
  draw_text(upper, 1, 1, "XYZ", white, 1);
  EXPECT_EQ(lower.pixels, upper.pixels);
  EXPECT_NE(lower.pixels, Image(40, 10, 1).pixels);
  const uint8_t green[3] = {0, 255, 0};
  Image grey(10, 10, 1);
  draw_text(grey, 0, 0, "1", green, 1);
  EXPECT_EQ(*grey.at(2, 0), 150);  // round(0.587 * 255)
}

TEST(Text, ClipsAtImageEdges) {
  const uint8_t black[3] = {0, 0, 0};
  Image img(8, 8, 3, 255);
  draw_text(img, -3, 4, "8888", black, 2);  // must not write out of bounds
  EXPECT_EQ(img.pixels.size(), 8u * 8u * 3u);
  EXPECT_THROW(draw_text(img, 0, 0, "1", black, 0), Error);
}
