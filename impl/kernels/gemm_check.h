#pragma once
// Running a GEMM version on random inputs and judging it against the double-precision
// reference (gemm_reference.h): shared by the kernel tests and `vaebench-kernels check`.
#include <cstdint>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/gemm.h"
#include "kernels/gemm_reference.h"

namespace vae::kernels::gemm::check {

struct Shape {
  int batch = 0, in = 0, out = 0;  // M, K, N
  std::string label() const;       // "M,N,K", as --shape takes it
};
// "M,N,K" (positive integers); throws vae::Error quoting the text.
Shape parse_shape(const std::string& text);

// The default model's layers (VaeConfig's defaults) at the default batch of 128: 784→400,
// 400→40 (μ and log σ² as one GEMM), 20→400, 400→784, each with its activation and input kind.
struct Layer {
  Shape shape;
  Activation activation;
  bool byte_input;  // the first layer reads the uint8 images
  std::string name;
};
std::vector<Layer> default_model_layers();
// Shapes that are multiples of no tile size: M = 1, N = 7, K = 33, and 129 × 401 × 785.
std::vector<Shape> odd_shapes();

// Inputs and their expected outputs, made once and judged against any number of runs.
struct Prepared {
  Pass pass = Pass::forward;
  reference::Layer layer;
  std::vector<std::string> outputs;            // "y" or "dx", "dw", "db"
  std::vector<reference::Expected> expected;   // one per output
};
Prepared prepare(Pass pass, const Shape& shape, Activation activation, bool byte_input, std::uint64_t data_seed = 1);

struct OutputResult {
  std::string output;
  reference::Comparison comparison;
  std::vector<float> got;  // the kernel's result, for bitwise comparisons across runs
};

// Runs version v on the stream's device (outputs start as NaN, so unwritten ones fail).
std::vector<OutputResult> run(const device::Stream& stream, Version v, const Prepared& prepared);

// The kernel's outputs copied back and judged, output i named names[i] against expected[i]
// (every family's check ends here; the stream must be synchronized).
std::vector<OutputResult> judge_outputs(const device::Stream& stream, const std::vector<device::Array<float>>& outputs,
                                        const std::vector<std::string>& names,
                                        const std::vector<reference::Expected>& expected,
                                        const tol::GemmTolerance& tolerance);

}  // namespace vae::kernels::gemm::check
