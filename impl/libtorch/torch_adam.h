#pragma once
// Adam in LibTorch tensor ops, written to round exactly as Python's torch.optim.Adam does
// (torch/optim/adam.py, default options: no weight decay, no AMSGrad, not maximize).
// LibTorch's own torch::optim::Adam updates the first moment as mul_(b1).add_(g, 1 - b1)
// where Python uses lerp_, which rounds differently; a backend that claims to be "Adam as
// in PyTorch" must use Python's order, so this is what the libtorch backends step with.
//
//   plain (host step count, _single_tensor_adam / _multi_tensor_adam):
//     t += 1; m.lerp_(g, 1 - b1); v.mul_(b2).addcmul_(g, g, 1 - b2)
//     denom = (v.sqrt() / (1 - b2^t)^0.5).add_(eps); p.addcdiv_(m, denom, -lr / (1 - b1^t))
//   capturable (step count in a device tensor, so a CUDA graph can replay it; the
//   single-tensor capturable=True branch; the foreach branch regroups these scalars):
//     t += 1; same moments; bc1 = 1 - pow(b1, t); bc2 = 1 - pow(b2, t)
//     denom = (v.sqrt() / (bc2.sqrt() * (-lr / bc1))).add_(eps / (-lr / bc1)); p.addcdiv_(m, denom)
#include <torch/torch.h>

#include "model/adam_options.h"

namespace vae::libtorch {

struct AdamTensors {
  torch::Tensor exp_avg, exp_avg_sq;  // like the parameter
};

// param, grad: same shape, dtype and device; no autograd recorded.
void adam_step(torch::Tensor& param, const torch::Tensor& grad, AdamTensors& state, int64_t step,
               const AdamOptions& o);

// The step counter capturable Adam keeps on the device: a zero scalar in the parameter's dtype
// and device. Python's Adam makes it float32 (its default scalar dtype) next to float32
// parameters; next to float64 parameters it must be float64 too, or 1 - pow(beta, step) and
// the step size promote to float32 and carry float(0.999)'s 1e-5 relative error into an fp64
// backend's every step.
torch::Tensor capturable_step_counter(const torch::Tensor& param);

// step: a scalar tensor from capturable_step_counter(param), incremented in place.
void adam_step_capturable(torch::Tensor& param, const torch::Tensor& grad, AdamTensors& state, torch::Tensor& step,
                          const AdamOptions& o);

}  // namespace vae::libtorch
