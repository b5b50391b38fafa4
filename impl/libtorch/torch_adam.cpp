#include "libtorch/torch_adam.h"

#include <cmath>
#include <stdexcept>

namespace vae::libtorch {

void adam_step(torch::Tensor& param, const torch::Tensor& grad, AdamTensors& s, int64_t step, const AdamOptions& o) {
  torch::NoGradGuard no_grad;
  s.exp_avg.lerp_(grad, 1 - o.beta1);
  s.exp_avg_sq.mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);
  // Python computes these scalars in double: beta ** step, then bias_correction2 ** 0.5.
  const double bias_correction1 = 1 - std::pow(o.beta1, double(step));
  const double bias_correction2 = 1 - std::pow(o.beta2, double(step));
  const double step_size = o.lr / bias_correction1;
  const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);
  const torch::Tensor denom = (s.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(o.eps);
  param.addcdiv_(s.exp_avg, denom, -step_size);
}

torch::Tensor capturable_step_counter(const torch::Tensor& param) {
  return torch::zeros({}, torch::TensorOptions().dtype(param.scalar_type()).device(param.device()));
}

void adam_step_capturable(torch::Tensor& param, const torch::Tensor& grad, AdamTensors& s, torch::Tensor& step,
                          const AdamOptions& o) {
  torch::NoGradGuard no_grad;
  if (step.scalar_type() != param.scalar_type())
    throw std::invalid_argument("adam_step_capturable: the step counter's dtype differs from the parameter's "
                                "(make it with capturable_step_counter)");
  step.add_(1);
  s.exp_avg.lerp_(grad, 1 - o.beta1);
  s.exp_avg_sq.mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);
  // Python's `scalar / tensor` is tensor.reciprocal() * scalar (Tensor.__rtruediv__); LibTorch's
  // operator/ would fill and divide, which rounds differently, so the reciprocal is spelled out.
  const torch::Tensor bias_correction1 = 1 - torch::pow(o.beta1, step);
  const torch::Tensor bias_correction2 = 1 - torch::pow(o.beta2, step);
  const torch::Tensor step_size_neg = (bias_correction1.reciprocal() * o.lr).neg();
  const torch::Tensor bias_correction2_sqrt = bias_correction2.sqrt();
  const torch::Tensor denom = (s.exp_avg_sq.sqrt() / (bias_correction2_sqrt * step_size_neg))
                                  .add_(step_size_neg.reciprocal() * o.eps);
  param.addcdiv_(s.exp_avg, denom);
}

}  // namespace vae::libtorch
