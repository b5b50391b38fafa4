#pragma once
// The judge of the GEMM family: the same math in double precision on the host, and the
// comparison of a kernel's result against it with validation/tolerances.h's GEMM bounds.
// Plain loops in a fixed order: slow, obvious, and independent of every kernel version.
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "tolerances.h"

namespace vae::kernels::gemm::reference {

// The epilogue's activation and the backward's prologue dY ⊙ act'(Y) (act' from the saved
// output Y), in double: what every kernel family's judge applies.
double activate(Activation act, double v);
double prologue(Activation act, double dy, double y);

// A layer's inputs on the host, in the layouts of gemm.h (x or x_bytes, not both).
struct Layer {
  int batch = 0, in = 0, out = 0;
  std::vector<float> x;
  std::vector<std::uint8_t> x_bytes;
  std::vector<float> weight, bias;  // bias may be empty
  Activation activation = Activation::identity;
  std::vector<float> dy, y;         // backward only: dY and the forward's output
};

// What a kernel should produce: want in double, and the element-wise scale of
// tolerances.h (Σ|a·b| + |bias| + |want|).
struct Expected {
  std::vector<double> want, scale;
  int accumulation_length = 0;  // n of the tolerance
  // The norm-wise check relative to ||scale|| instead of ||want||: for outputs that cancel by
  // construction, whose error is not proportional to their size (batch norm: tolerances.h).
  bool normwise_of_scale = false;
};

Expected forward(const Layer& layer);
struct BackwardExpected {
  Expected dx, dw, db;
};
BackwardExpected backward(const Layer& layer);

struct Comparison {
  double max_abs = 0;       // max |got - want|
  double max_rel = 0;       // max |got - want| / |want| over want != 0 (for the table; not judged)
  double norm_rel = 0;      // ||got - want|| / ||want||
  double worst_elementwise = 0;  // max |got - want| / scale
  double percent_of_tolerance = 0;  // the worse of the two checks, 100 = at the bound
  bool pass = false;        // both within bounds, and nothing NaN
  long long worst_index = -1;  // failing: the first non-finite element, else the worst; -1 if pass
};

Comparison compare(const std::vector<float>& got, const Expected& expected, const tol::GemmTolerance& tolerance);

}  // namespace vae::kernels::gemm::reference
