#pragma once
// One conv2d or conv_transpose2d layer's geometry, as PyTorch's int arguments (square kernel,
// stride and padding; dilation 1, groups 1): the one place its output size is computed and
// checked, for model/layers, the double-precision reference (reference/conv_layers) and the
// conv kernel family (kernels/conv) alike.
#include <cstdint>
#include <string>

namespace vae {

struct ConvGeometry {
  int in_channels = 0, out_channels = 0, in_h = 0, in_w = 0;
  int kernel = 1, stride = 1, padding = 0;
  int output_padding = 0;  // transposed only; PyTorch requires output_padding < stride
  bool transposed = false;

  // conv: floor((H + 2p - k) / s) + 1;  transposed: (H - 1) s - 2p + k + output_padding.
  // Meaningful only for a geometry that passes check() (otherwise may be <= 0).
  int out_h() const;
  int out_w() const;
  // One spatial dimension's output size by the formulas above, for any input (<= 0 or
  // nonsense for a layer that check() refuses; stride >= 1).
  static int64_t out_extent(int64_t in, int kernel, int stride, int padding, int output_padding, bool transposed);
  int64_t in_size() const { return int64_t(in_channels) * in_h * in_w; }  // values per image
  int64_t out_size() const { return int64_t(out_channels) * out_h() * out_w(); }
  int64_t weight_size() const { return int64_t(in_channels) * out_channels * kernel * kernel; }

  // Throws vae::Error naming the layer and what is wrong (zero channels or size, kernel or
  // stride below 1, negative padding, output_padding on a plain conv or not below the stride,
  // kernel larger than the padded input, non-positive output).
  void check() const;
  // "conv2d(1->32, k4 s2 p1) on 28x28" / "conv_transpose2d(128->64, k4 s2 p1 op1) on 3x3".
  std::string describe() const;

  // A plain or transposed conv from PyTorch's arguments, on an H x W input.
  static ConvGeometry conv2d(int in_channels, int out_channels, int h, int w, int kernel, int stride, int padding) {
    ConvGeometry g;
    g.in_channels = in_channels;
    g.out_channels = out_channels;
    g.in_h = h;
    g.in_w = w;
    g.kernel = kernel;
    g.stride = stride;
    g.padding = padding;
    return g;
  }
  static ConvGeometry conv_transpose2d(int in_channels, int out_channels, int h, int w, int kernel, int stride,
                                       int padding, int output_padding) {
    ConvGeometry g = conv2d(in_channels, out_channels, h, w, kernel, stride, padding);
    g.transposed = true;
    g.output_padding = output_padding;
    return g;
  }
};

}  // namespace vae
