#pragma once
// Adam exactly as torch.optim.Adam (default: no weight decay, no AMSGrad, not maximize),
// in double, over the flat parameter buffer:
//   t += 1;  m = m + (1-b1) (g - m);  v = b2 v + (1-b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The bias corrections are applied in this order because torch does so; other algebraically
// equal forms round differently.
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/adam_options.h"

namespace vae::ref {

class Adam {
 public:
  Adam(size_t n, const AdamOptions& options) : options_(options), m_(n, 0.0), v_(n, 0.0) {}
  // Resumes from a saved state (a checkpoint's step count and moments).
  Adam(const AdamOptions& options, int64_t steps, std::vector<double> m, std::vector<double> v)
      : options_(options), t_(steps), m_(std::move(m)), v_(std::move(v)) {}

  // The hyper-parameters may change between steps (as torch's param_groups allow).
  void set_options(const AdamOptions& options) { options_ = options; }

  void step(std::vector<double>& params, const std::vector<double>& grad);

  int64_t steps() const { return t_; }
  const std::vector<double>& first_moment() const { return m_; }
  const std::vector<double>& second_moment() const { return v_; }

 private:
  AdamOptions options_;
  int64_t t_ = 0;
  std::vector<double> m_, v_;
};

}  // namespace vae::ref
