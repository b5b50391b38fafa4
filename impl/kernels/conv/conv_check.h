#pragma once
// Running a conv version on random inputs and judging it against the double-precision
// reference layers (reference/conv_layers.h, the suite's spec of Conv2d / ConvTranspose2d)
// with validation/tolerances.h's GEMM bounds: each output is a dot product over n terms
// (conv_plan.h's depth of its direction). Shared by the kernel tests and `vaebench-kernels check`.
#include <cstdint>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/conv/conv.h"
#include "kernels/gemm_check.h"
#include "kernels/gemm_reference.h"

namespace vae::kernels::conv::check {

// One layer to check: its geometry, a batch, the activation and whether x is uint8 images.
struct Case {
  ConvGeometry geometry;
  int batch = 1;
  Activation activation = Activation::identity;
  bool byte_input = false;
  std::string name;
  std::string label() const;  // "B:CxHxW:layer" as --conv-shape takes it, e.g. "2:3x5x9:conv7k3s1p1:relu"
};

// "B:CxHxW:layer": a batch, an input shape and one conv2d / conv_transpose2d layer in the
// model's text form (model/layers.h; no batch norm: that is its own family). Throws vae::Error
// quoting the text and naming what is wrong.
Case parse_case(const std::string& text);

// The conv and transposed-conv layers of every convolutional preset (model/layers.h's list),
// at `batch`, each with its activation (the first layer of an image model reads bytes).
std::vector<Case> preset_layers(int batch);
// Hold-out geometries that are multiples of no tile: odd channels and sizes, non-square
// inputs, k 1/3/5, strides 1-3, output padding, more than 64 output channels, a 1x1 image.
std::vector<Case> odd_cases();

struct Prepared {
  Pass pass = Pass::forward;
  Case c;
  std::vector<float> x, weight, bias, dy, y;
  std::vector<std::uint8_t> x_bytes;
  std::vector<std::string> outputs;                      // "y", or "dx", "dw", "db"
  std::vector<gemm::reference::Expected> expected;       // one per output
};
Prepared prepare(Pass pass, const Case& c, std::uint64_t data_seed = 1);

using OutputResult = gemm::check::OutputResult;

// Runs version v on the stream's device (outputs start as NaN, so unwritten ones fail).
std::vector<OutputResult> run(const device::Stream& stream, Version v, const Prepared& prepared);

}  // namespace vae::kernels::conv::check
