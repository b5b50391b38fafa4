#include "model/conv_geometry.h"

#include <limits>

#include "common/error.h"

namespace vae {

namespace {

// floor(a / b) for b > 0; C++ division truncates towards zero, which would turn a kernel
// larger than the padded input into an output of size 1.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

int64_t ConvGeometry::out_extent(int64_t in, int kernel, int stride, int padding, int output_padding, bool transposed) {
  const int64_t k = kernel, s = stride, p = padding;
  if (transposed) return (in - 1) * s - 2 * p + k + output_padding;
  if (s < 1) return 0;  // check() reports the stride itself
  return floor_div(in + 2 * p - k, s) + 1;
}

int ConvGeometry::out_h() const { return int(out_extent(in_h, kernel, stride, padding, output_padding, transposed)); }
int ConvGeometry::out_w() const { return int(out_extent(in_w, kernel, stride, padding, output_padding, transposed)); }

std::string ConvGeometry::describe() const {
  std::string s = std::string(transposed ? "conv_transpose2d(" : "conv2d(") + std::to_string(in_channels) + "->" +
                  std::to_string(out_channels) + ", k" + std::to_string(kernel) + " s" + std::to_string(stride) +
                  " p" + std::to_string(padding);
  if (transposed || output_padding != 0) s += " op" + std::to_string(output_padding);
  return s + ") on " + std::to_string(in_h) + "x" + std::to_string(in_w);
}

void ConvGeometry::check() const {
  const std::string name = describe();
  auto fail = [&](const std::string& what) { throw Error(name + ": " + what); };
  if (in_channels < 1 || out_channels < 1)
    fail("channels must be positive, got in_channels " + std::to_string(in_channels) + ", out_channels " +
         std::to_string(out_channels));
  if (in_h < 1 || in_w < 1) fail("input size must be positive, got " + std::to_string(in_h) + "x" + std::to_string(in_w));
  if (kernel < 1) fail("kernel must be positive, got " + std::to_string(kernel));
  if (stride < 1) fail("stride must be positive, got " + std::to_string(stride));
  if (padding < 0) fail("padding must be non-negative, got " + std::to_string(padding));
  if (output_padding < 0) fail("output_padding must be non-negative, got " + std::to_string(output_padding));
  if (!transposed && output_padding != 0)
    fail("output_padding " + std::to_string(output_padding) + " applies only to a transposed conv");
  // PyTorch: "output padding must be smaller than either stride or dilation"; dilation is 1.
  if (transposed && output_padding >= stride)
    fail("output_padding " + std::to_string(output_padding) + " must be smaller than stride " + std::to_string(stride));
  if (!transposed && (int64_t(in_h) + 2 * int64_t(padding) < kernel || int64_t(in_w) + 2 * int64_t(padding) < kernel))
    fail("kernel " + std::to_string(kernel) + " is larger than the padded input " +
         std::to_string(int64_t(in_h) + 2 * int64_t(padding)) + "x" + std::to_string(int64_t(in_w) + 2 * int64_t(padding)));
  const int64_t oh = out_extent(in_h, kernel, stride, padding, output_padding, transposed),
                ow = out_extent(in_w, kernel, stride, padding, output_padding, transposed);
  if (oh < 1 || ow < 1)
    fail("output size " + std::to_string(oh) + "x" + std::to_string(ow) +
         " is not positive ((H-1)*stride - 2*padding + kernel + output_padding)");
  if (oh > std::numeric_limits<int>::max() || ow > std::numeric_limits<int>::max())
    fail("output size " + std::to_string(oh) + "x" + std::to_string(ow) + " does not fit an int");
}

}  // namespace vae
