#pragma once
// Floating-point operations of the implemented math, counted exactly for the dense and conv
// parts: every dense or conv layer's multiply-adds (model/layers.h: in*out for dense,
// Cout*Ho*Wo*Cin*k^2 for conv, Cin*H*W*Cout*k^2 for transposed conv, per image), twice, plus
// one bias add per output element, forward and backward. Batch norm is element-wise and not
// counted either.
// Element-wise work (activations, reparameterization, losses, Adam: O(n*width) against the
// O(n*width^2) of the GEMMs, about 1% for the default model) is not counted, so TFLOP/s
// figures are GEMM throughput and slightly understate the work done.
//
// Rows: encoder layers see B rows, decoder layers K*B rows (K samples of z per image).
// Backward per layer: the weight gradient (the forward's multiply-adds again), the bias
// gradient (one add per output element) and the data gradient (the multiply-adds again) --
// except for the first encoder layer, whose input (the data) needs no gradient.
#include <cstdint>

#include "model/config.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae {

struct StepFlops {
  double forward = 0, backward = 0;
  double total() const { return forward + backward; }
};

inline StepFlops count_flops(const VaeConfig& config, int64_t batch) {
  const ParamLayout layout(config);
  StepFlops f;
  const double b = double(batch), kb = double(config.samples) * b;
  for (const DerivedLayer& l : layout.model().layers()) {
    const bool encoder_side = l.role == LayerRole::Encoder || l.role == LayerRole::Head;
    const double rows = encoder_side ? b : kb;
    const double mac = 2.0 * rows * double(l.macs), bias = rows * double(l.out.numel());
    const bool input_needs_grad = !(l.role == LayerRole::Encoder && l.index == 0);  // the data needs none
    f.forward += mac + bias;
    f.backward += mac + bias + (input_needs_grad ? mac : 0.0);
  }
  return f;
}

}  // namespace vae
