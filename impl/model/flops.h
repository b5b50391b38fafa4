#pragma once
// Floating-point operations of the implemented math, counted exactly for the dense parts:
// every linear layer (2*n*in*out multiply-adds plus n*out bias adds), forward and backward.
// Element-wise work (activations, reparameterization, losses, Adam: O(n*width) against the
// O(n*width^2) of the GEMMs, about 1% for the default model) is not counted, so TFLOP/s
// figures are GEMM throughput and slightly understate the work done.
//
// Rows: encoder layers see B rows, decoder layers K*B rows (K samples of z per image).
// Backward per layer: dW = dY^T X (2*n*in*out), db (n*out), dX = dY W (2*n*in*out) -- except
// for the first encoder layer, whose input (the data) needs no gradient.
#include <cstdint>

#include "model/config.h"
#include "model/params.h"

namespace vae {

struct StepFlops {
  double forward = 0, backward = 0;
  double total() const { return forward + backward; }
};

inline StepFlops count_flops(const VaeConfig& config, int64_t batch) {
  const ParamLayout layout(config);
  StepFlops f;
  const auto layer = [&](const LinearLayer& l, double rows, bool input_needs_grad) {
    const double mac = 2.0 * rows * double(l.in) * double(l.out), bias = rows * double(l.out);
    f.forward += mac + bias;
    f.backward += mac + bias + (input_needs_grad ? mac : 0.0);
  };
  const double b = double(batch), kb = double(config.samples) * b;
  bool first = true;
  for (const LinearLayer& l : layout.encoder_hidden()) {
    layer(l, b, !first);
    first = false;
  }
  layer(layout.mu(), b, !first);
  layer(layout.logvar(), b, !first);
  for (const LinearLayer& l : layout.decoder_hidden()) layer(l, kb, true);
  layer(layout.out(), kb, true);
  return f;
}

}  // namespace vae
