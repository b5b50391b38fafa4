#include "pictures/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "common/error.h"

namespace vae {
namespace {

// ---------------------------------------------------------------------------------------
// Font: each glyph is 7 rows of 5 columns, '#' = ink. Drawn as text so it can be checked by eye.
// ---------------------------------------------------------------------------------------
struct Glyph {
  char c;
  const char* rows[7];
};

constexpr Glyph kFont[] = {
    {' ', {"     ", "     ", "     ", "     ", "     ", "     ", "     "}},
    {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
    {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
    {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
    {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
    {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
    {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
    {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
    {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
    {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
    {'A', {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
    {'B', {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "}},
    {'C', {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "}},
    {'D', {"###  ", "#  # ", "#   #", "#   #", "#   #", "#  # ", "###  "}},
    {'E', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"}},
    {'F', {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "}},
    {'G', {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"}},
    {'H', {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"}},
    {'I', {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'J', {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "}},
    {'K', {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"}},
    {'L', {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"}},
    {'M', {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"}},
    {'N', {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"}},
    {'O', {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
    {'P', {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "}},
    {'Q', {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"}},
    {'R', {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"}},
    {'S', {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "}},
    {'T', {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "}},
    {'U', {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "}},
    {'V', {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "}},
    {'W', {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "}},
    {'X', {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"}},
    {'Y', {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "}},
    {'Z', {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"}},
    {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
    {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
    {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
    {',', {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "}},
    {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
    {'%', {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"}},
    {'=', {"     ", "     ", "#####", "     ", "#####", "     ", "     "}},
    {'+', {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "}},
    {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
    {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
    {'_', {"     ", "     ", "     ", "     ", "     ", "     ", "#####"}},
    {'?', {" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "}},
};
constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = kGlyphW + 1;

const Glyph& glyph_for(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const Glyph& g : kFont)
    if (g.c == c) return g;
  return glyph_for('?');
}

// ---------------------------------------------------------------------------------------
// Drawing primitives, clipped to the image.
// ---------------------------------------------------------------------------------------
void set_pixel(Image& img, int x, int y, const uint8_t rgb[3]) {
  if (!img.contains(x, y)) return;
  uint8_t* p = img.at(x, y);
  if (img.channels == 3) {
    p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
  } else {
    p[0] = static_cast<uint8_t>(std::lround(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]));
  }
}

// Fills [x0, x1) × [y0, y1).
void fill_rect(Image& img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) set_pixel(img, x, y, rgb);
}

// ---------------------------------------------------------------------------------------
// Grids
// ---------------------------------------------------------------------------------------
void check_grid_args(const char* what, int n, TileShape shape, int cols, int pad) {
  const int h = shape.h, w = shape.w;
  if (n <= 0 || h <= 0 || w <= 0 || cols <= 0 || pad < 0 || (shape.channels != 1 && shape.channels != 3))
    throw Error(std::string(what) + ": bad arguments n=" + std::to_string(n) + " channels=" +
                std::to_string(shape.channels) + " h=" + std::to_string(h) + " w=" + std::to_string(w) +
                " cols=" + std::to_string(cols) + " pad=" + std::to_string(pad) +
                " (n, h, w, cols must be positive, channels 1 or 3, pad non-negative)");
}

Image blank_grid(const char* what, int rows, int cols, TileShape shape, int pad) {
  const int h = shape.h, w = shape.w;
  int64_t width = int64_t{cols} * (w + pad) + pad, height = int64_t{rows} * (h + pad) + pad;
  if (width > (1 << 16) || height > (1 << 16))  // PNG viewers give up long before this
    throw Error(std::string(what) + ": grid of " + std::to_string(width) + "x" + std::to_string(height) +
                " pixels is too large");
  return Image(static_cast<int>(width), static_cast<int>(height), shape.channels, kGridPadValue);
}

uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN
  if (v >= 1.0f) return 255;
  return static_cast<uint8_t>(std::lround(v * 255.0f));
}

// The tile is planar (channel c's plane at tile + c*h*w); the grid's pixels are interleaved.
void place_tile(Image& grid, const float* tile, int row, int col, TileShape shape, int pad) {
  const int h = shape.h, w = shape.w, c = shape.channels;
  const size_t plane = size_t(h) * size_t(w);
  int x0 = pad + col * (w + pad), y0 = pad + row * (h + pad);
  for (int y = 0; y < h; ++y) {
    uint8_t* out = grid.at(x0, y0 + y);
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        out[x * c + ch] = to_byte(tile[size_t(ch) * plane + size_t(y) * size_t(w) + size_t(x)]);
  }
}

// ---------------------------------------------------------------------------------------
// Scatter plot
// ---------------------------------------------------------------------------------------
constexpr uint8_t kTab10[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                   {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                   {188, 189, 34},  {23, 190, 207}};
constexpr uint8_t kBlack[3] = {0, 0, 0}, kAxisGrey[3] = {220, 220, 220};
constexpr int kTickLen = 6, kTickGap = 4, kLabelScale = 2;
constexpr int kScatterRight = 70, kScatterBottom = 40, kLegendRow = 22;

std::string format_tick(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(v));
  std::string s = buf;
  return s == "-0" ? "0" : s;
}

// Largest scale (2, else 1) at which `text` fits in `room` pixels.
int label_scale(const std::string& text, int room) {
  return text_width(text, kLabelScale) <= room ? kLabelScale : 1;
}

// Pixel column / row of a data coordinate, as documented in canvas.h.
int scatter_x(float x, float lo, float hi, int size) {
  return kScatterLeft + static_cast<int>(std::lround((x - lo) / (hi - lo) * static_cast<float>(size - 1)));
}
int scatter_y(float y, float lo, float hi, int size) {
  return kScatterTop + static_cast<int>(std::lround((hi - y) / (hi - lo) * static_cast<float>(size - 1)));
}

void draw_axes(Image& img, float lo, float hi, int size) {
  const int left = kScatterLeft, top = kScatterTop, right = left + size, bottom = top + size;
  std::vector<float> ticks = {lo, hi};
  if (lo < 0.0f && hi > 0.0f) {
    ticks.push_back(0.0f);
    int x0 = scatter_x(0.0f, lo, hi, size), y0 = scatter_y(0.0f, lo, hi, size);
    fill_rect(img, x0, top, x0 + 1, bottom, kAxisGrey);
    fill_rect(img, left, y0, right, y0 + 1, kAxisGrey);
  }
  // Frame just outside the plot area, so dots never cover it.
  fill_rect(img, left - 1, top - 1, right + 1, top, kBlack);
  fill_rect(img, left - 1, bottom, right + 1, bottom + 1, kBlack);
  fill_rect(img, left - 1, top - 1, left, bottom + 1, kBlack);
  fill_rect(img, right, top - 1, right + 1, bottom + 1, kBlack);

  for (float v : ticks) {
    std::string text = format_tick(v);
    int px = scatter_x(v, lo, hi, size), py = scatter_y(v, lo, hi, size);
    int room = left - 1 - kTickLen - kTickGap;  // left of the y ticks
    int scale = label_scale(text, room);
    // x axis: tick below the frame, label centred under it.
    fill_rect(img, px, bottom + 1, px + 1, bottom + 1 + kTickLen, kBlack);
    draw_text(img, px - text_width(text, scale) / 2, bottom + 1 + kTickLen + kTickGap, text, kBlack, scale);
    // y axis: tick left of the frame, label right-aligned before it, centred vertically.
    fill_rect(img, left - 1 - kTickLen, py, left - 1, py + 1, kBlack);
    draw_text(img, room - text_width(text, scale), py - kGlyphH * scale / 2, text, kBlack, scale);
  }
}

void draw_legend(Image& img, int size) {
  const int x = kScatterLeft + size + 16, square = kGlyphH * kLabelScale;
  for (int label = 0; label < 10; ++label) {
    int y = kScatterTop + label * kLegendRow;
    fill_rect(img, x, y, x + square, y + square, kTab10[label]);
    draw_text(img, x + square + 6, y, std::to_string(label), kBlack, kLabelScale);
  }
}

}  // namespace

Image image_grid(const float* images, int n, TileShape shape, int cols, int pad) {
  check_grid_args("image_grid", n, shape, cols, pad);
  if (!images) throw Error("image_grid: images is null");
  cols = std::min(cols, n);
  int rows = (n + cols - 1) / cols;
  Image grid = blank_grid("image_grid", rows, cols, shape, pad);
  for (int k = 0; k < n; ++k) place_tile(grid, images + size_t(k) * shape.values(), k / cols, k % cols, shape, pad);
  return grid;
}

Image comparison_grid(const float* originals, const float* reconstructions, int n, TileShape shape, int cols,
                      int pad) {
  check_grid_args("comparison_grid", n, shape, cols, pad);
  if (!originals || !reconstructions) throw Error("comparison_grid: originals or reconstructions is null");
  cols = std::min(cols, n);
  int pair_rows = (n + cols - 1) / cols;
  Image grid = blank_grid("comparison_grid", 2 * pair_rows, cols, shape, pad);
  for (int k = 0; k < n; ++k) {
    const size_t offset = size_t(k) * shape.values();
    place_tile(grid, originals + offset, 2 * (k / cols), k % cols, shape, pad);
    place_tile(grid, reconstructions + offset, 2 * (k / cols) + 1, k % cols, shape, pad);
  }
  return grid;
}

Image scatter_plot(const float* xy, const uint8_t* labels, int n, float lo, float hi, int size, int* clipped) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw Error("scatter_plot: range [" + format_tick(lo) + ", " + format_tick(hi) + "] must be finite with lo < hi");
  if (size < 16 || size > 8192) throw Error("scatter_plot: size " + std::to_string(size) + " is outside 16..8192");
  if (n < 0) throw Error("scatter_plot: negative point count " + std::to_string(n));
  if (n > 0 && (!xy || !labels)) throw Error("scatter_plot: xy or labels is null");
  for (int i = 0; i < n; ++i)
    if (labels[i] > 9)
      throw Error("scatter_plot: label " + std::to_string(labels[i]) + " of point " + std::to_string(i) +
                  " is outside 0..9");

  int width = kScatterLeft + size + kScatterRight;
  int height = std::max(kScatterTop + size + kScatterBottom, kScatterTop + 10 * kLegendRow + kScatterTop);
  Image img(width, height, 3, 255);
  draw_axes(img, lo, hi, size);
  draw_legend(img, size);

  const int x_max = kScatterLeft + size, y_max = kScatterTop + size;  // exclusive
  int outside = 0;
  for (int i = 0; i < n; ++i) {
    float x = xy[2 * i], y = xy[2 * i + 1];
    if (!(x >= lo && x <= hi && y >= lo && y <= hi)) {  // NaN fails too
      ++outside;
      continue;
    }
    int px = scatter_x(x, lo, hi, size), py = scatter_y(y, lo, hi, size);
    // Clip the dot to the plot area so it never covers the frame.
    fill_rect(img, std::max(px - 1, kScatterLeft), std::max(py - 1, kScatterTop), std::min(px + 2, x_max),
              std::min(py + 2, y_max), kTab10[labels[i]]);
  }
  if (clipped) *clipped = outside;
  return img;
}

void draw_text(Image& img, int x, int y, const std::string& text, const uint8_t rgb[3], int scale) {
  if (scale < 1) throw Error("draw_text: scale " + std::to_string(scale) + " must be at least 1");
  for (size_t i = 0; i < text.size(); ++i) {
    const Glyph& g = glyph_for(text[i]);
    int gx = x + static_cast<int>(i) * kAdvance * scale;
    for (int row = 0; row < kGlyphH; ++row)
      for (int col = 0; col < kGlyphW; ++col)
        if (g.rows[row][col] == '#')
          fill_rect(img, gx + col * scale, y + row * scale, gx + (col + 1) * scale, y + (row + 1) * scale, rgb);
  }
}

int text_width(const std::string& text, int scale) {
  if (text.empty()) return 0;
  return (static_cast<int>(text.size()) * kAdvance - 1) * scale;
}

}  // namespace vae
