#pragma once
// Pictures of a model's behaviour: grids of digit images, originals next to their
// reconstructions, and 2-D latent scatter plots with a small built-in bitmap font for labels.
#include <cstdint>
#include <string>

#include "pictures/png.h"

namespace vae {

// Padding between and around tiles. Mid-grey rather than black or white, so tile edges stay
// visible whether digits are white on black (MNIST) or the reverse.
constexpr uint8_t kGridPadValue = 128;

// One image's shape as the models see it: channels (1 grey, 3 RGB), then h×w, planar (NCHW).
struct TileShape {
  int channels = 1, h = 0, w = 0;
  size_t values() const { return size_t(channels) * size_t(h) * size_t(w); }
};

// Tiles n images of shape.values() values in [0,1] ([n, C*h*w], each image channel-major as the
// models' NCHW output; clamped, NaN drawn as 0, v -> round(255 v)) into a grid of min(cols, n)
// columns and ceil(n / cols) rows: grey for one channel, RGB (channels interleaved, as PNG
// stores them) for three. Tile k's top-left pixel is (pad + (k % cols) * (w + pad),
// pad + (k / cols) * (h + pad)); unused cells of the last row are padding. Throws vae::Error
// for non-positive n, h, w, cols, channels other than 1 or 3, negative pad, or a null pointer.
Image image_grid(const float* images, int n, TileShape shape, int cols, int pad = 2);

// Originals and reconstructions ([n, C*h*w] each) as pairs of rows with the image_grid layout:
// grid row 2r holds originals r*cols .. r*cols+cols-1 and row 2r+1 their reconstructions.
Image comparison_grid(const float* originals, const float* reconstructions, int n, TileShape shape, int cols,
                      int pad = 2);

// Scatter-plot layout: the plot area is size×size pixels with its top-left at
// (kScatterLeft, kScatterTop); a black frame lies just outside it. Point (x, y) is drawn at
// (kScatterLeft + round((x - lo) / (hi - lo) * (size - 1)),
//  kScatterTop  + round((hi - y) / (hi - lo) * (size - 1)))   (y grows upwards).
constexpr int kScatterLeft = 80, kScatterTop = 16;

// 2-D points (xy: [n, 2]) as 3×3 dots coloured by label (0..9, matplotlib's tab10 palette;
// later points over earlier ones) on a white RGB canvas, with tick labels at lo, 0 (when
// inside) and hi on both axes, light-grey axis lines through 0, and a legend on the right.
// Points outside [lo, hi]² (or NaN) are not drawn; their count goes to *clipped when given.
// Throws vae::Error for a label above 9, lo >= hi, non-finite bounds, size < 16, n < 0,
// or null xy/labels with n > 0.
Image scatter_plot(const float* xy, const uint8_t* labels, int n, float lo, float hi, int size = 512,
                   int* clipped = nullptr);

// A 5×7 bitmap font with one column of spacing: digits, A-Z (lower case drawn as upper case),
// space and - . : , / % = + ( ) _ ?; any other character is drawn as '?'. (x, y) is the top-left
// of the first glyph; each glyph pixel becomes a scale×scale block; drawing is clipped to the
// image. On a grey image the colour is drawn as its luma (0.299 R + 0.587 G + 0.114 B).
// Throws vae::Error for scale < 1.
void draw_text(Image& img, int x, int y, const std::string& text, const uint8_t rgb[3], int scale = 1);

// Width in pixels of draw_text's output: 6 * scale per character, less the trailing spacing
// column (0 for ""). The height is always 7 * scale.
int text_width(const std::string& text, int scale = 1);

}  // namespace vae
