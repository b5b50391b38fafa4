#include "adam.h"

#include "common/error.h"

namespace vae::ref {

void Adam::step(std::vector<double>& params, const std::vector<double>& grad) {
  if (params.size() != m_.size() || grad.size() != m_.size())
    throw Error("reference Adam: state has " + std::to_string(m_.size()) + " values, got params " +
                std::to_string(params.size()) + " and grad " + std::to_string(grad.size()));
  ++t_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias_correction1 = 1.0 - std::pow(b1, double(t_));
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(b2, double(t_)));
  const double step_size = options_.lr / bias_correction1;
  for (size_t i = 0; i < params.size(); ++i) {
    m_[i] += (1.0 - b1) * (grad[i] - m_[i]);  // torch: exp_avg.lerp_(grad, 1 - beta1)
    v_[i] = b2 * v_[i] + (1.0 - b2) * (grad[i] * grad[i]);  // mul_(b2).addcmul_(g, g, 1 - b2)
    const double denom = std::sqrt(v_[i]) / bias_correction2_sqrt + options_.eps;
    params[i] -= step_size * m_[i] / denom;
  }
}

}  // namespace vae::ref
