#pragma once
// One gradient tensor of the flat layout against the expected gradient, judged the same way
// by every check (backend, reference, training path, external results).
//
// Norm-wise, except for a tensor whose gradient vanishes identically: the bias of a layer
// followed by batch norm (normalisation removes any per-channel constant, so d loss / d bias =
// sum over the batch and positions of batch norm's input gradient, which sums to zero). There
// both sides hold rounding noise, and a relative error of noise against noise means nothing;
// the tensor is judged against the norm of its layer's weight gradient instead, the same
// upstream gradient summed against the layer's inputs (activations of order one), which is
// what a real mistake (a dropped mean term) would make it look like.
#include <string>
#include <vector>

#include "compare.h"
#include "model/params.h"

namespace vae {

// The gradient tolerance of `precision` for parameter tensor `view` of the layout's model:
// tolerances.h's gradient() with the model's weight layers (mu and log-variance counted once)
// and whether the tensor is a dense output layer's; for the continuous Bernoulli likelihood
// no less than tolerances.h's continuous-Bernoulli floor.
const tol::Tolerance& gradient_tolerance(const ParamLayout& layout, const std::string& precision, size_t view,
                                         Likelihood likelihood);

// got, want: whole flat gradients; t: the view of the layout to compare, named quantity.
Comparison compare_gradient_tensor(const std::string& quantity, const ParamLayout& layout, size_t t,
                                   const std::vector<double>& got, const std::vector<double>& want,
                                   const tol::Tolerance& tol);

// The view whose gradient norm scales view t's when t's gradient vanishes identically, else t.
size_t gradient_scale_view(const ParamLayout& layout, size_t t);

// The flat buffer split in two: the tensors the loss depends on, and those whose gradient
// vanishes identically (biases before batch norm). Free-running Adam moves the latter by its
// normalised rounding noise (~lr per step, in a direction each implementation's rounding
// decides), which no tolerance can judge and which does not change the model's function.
struct SplitByEffect {
  std::vector<double> effective, vanishing;
};
SplitByEffect split_by_effect(const ParamLayout& layout, const std::vector<double>& flat);

}  // namespace vae
