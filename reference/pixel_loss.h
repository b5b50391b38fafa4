#pragma once
// One pixel's negative log-likelihood under the declared objective (model/objective.h), and its
// derivative with respect to the decoder output o, in double precision. Derivations:
// reference/README.md, "Objectives". The reference sums these over pixels (or averages them,
// pixels "mean"); nothing here knows about images or batches.
#include <algorithm>
#include <cmath>

#include "model/config.h"
#include "model/objective.h"

namespace vae::ref {

inline constexpr double kLog2Pi = 1.8378770664093454835606594728112;

inline double sigmoid(double o) {
  if (o >= 0) return 1.0 / (1.0 + std::exp(-o));
  const double e = std::exp(o);
  return e / (1.0 + e);
}

// torch.distributions.ContinuousBernoulli's window around 0.5 where log C is Taylor-expanded.
inline constexpr double kContinuousBernoulliLow = 0.499, kContinuousBernoulliHigh = 0.501;

// log C(p) of the continuous Bernoulli, C(p) = 2 atanh(1 - 2p) / (1 - 2p) (2 at p = 0.5):
// exactly log|log(1-p) - log p| - log|1 - 2p| outside the window, and inside it the Taylor
// form log 2 + (4/3 + 104/45 t) t, t = (p - 1/2)^2, as PyTorch computes it.
inline double continuous_bernoulli_log_norm(double p) {
  if (p <= kContinuousBernoulliLow || p >= kContinuousBernoulliHigh)
    return std::log(std::abs(std::log1p(-p) - std::log(p))) -
           (p <= 0.5 ? std::log1p(-2.0 * p) : std::log(2.0 * p - 1.0));
  const double t = (p - 0.5) * (p - 0.5);
  return std::log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * t) * t;
}

// d log C / dp: with u = log(1-p) - log p, (du/dp) / u + 2 / (1 - 2p), du/dp = -1/(p (1-p));
// in the window the Taylor form's derivative (4/3 + 208/45 t) 2 (p - 1/2).
inline double continuous_bernoulli_log_norm_grad(double p) {
  if (p <= kContinuousBernoulliLow || p >= kContinuousBernoulliHigh) {
    const double u = std::log1p(-p) - std::log(p);
    return (-1.0 / (p * (1.0 - p))) / u + 2.0 / (1.0 - 2.0 * p);
  }
  const double t = (p - 0.5) * (p - 0.5);
  return (4.0 / 3.0 + 208.0 / 45.0 * t) * 2.0 * (p - 0.5);
}

struct PixelLoss {
  Likelihood likelihood = Likelihood::Bernoulli;
  Objective objective;
  // The known mistake "sigmoid applied twice" (validation/diagnosis.h): the loss reads sigmoid(o)
  // where it should read o.
  bool sigmoid_twice = false;

  // -log p(x | o) for one pixel (before the pixel reduction).
  double nll(double o, double x) const {
    if (sigmoid_twice) o = sigmoid(o);
    if (likelihood == Likelihood::Bernoulli && objective.bernoulli_input == BernoulliInput::Logits)
      return std::max(o, 0.0) - o * x + std::log1p(std::exp(-std::abs(o)));  // BCE with logits
    const double s = sigmoid(o);
    if (likelihood == Likelihood::Gaussian) {
      const double sigma = objective.sigma, h = objective.gaussian_half ? 0.5 : 1.0;
      return h * (x - s) * (x - s) / (sigma * sigma) +
             (objective.gaussian_constant ? std::log(sigma) + 0.5 * kLog2Pi : 0.0);
    }
    const double p = clamped(s);
    const double bce = -(x * std::log(p) + (1.0 - x) * std::log1p(-p));
    return likelihood == Likelihood::ContinuousBernoulli ? bce - continuous_bernoulli_log_norm(p) : bce;
  }

  // d nll / d o.
  double grad(double o, double x) const {
    double chain = 1;
    if (sigmoid_twice) {
      const double s0 = sigmoid(o);
      chain = s0 * (1.0 - s0);
      o = s0;
    }
    const double s = sigmoid(o);
    if (likelihood == Likelihood::Bernoulli && objective.bernoulli_input == BernoulliInput::Logits)
      return chain * (s - x);
    if (likelihood == Likelihood::Gaussian) {
      const double sigma = objective.sigma, h = objective.gaussian_half ? 0.5 : 1.0;
      return chain * 2.0 * h * (s - x) / (sigma * sigma) * s * (1.0 - s);
    }
    const double c = objective.clamp;
    // torch.clamp passes the gradient where c <= s <= 1 - c and stops it outside.
    if (c > 0 && (s < c || s > 1.0 - c)) return 0.0;
    const double p = clamped(s);
    // d bce / dp * dp/do = (p - x) / (p (1 - p)) * s (1 - s) = p - x while p = s.
    double d = p - x;
    if (likelihood == Likelihood::ContinuousBernoulli) d -= continuous_bernoulli_log_norm_grad(p) * s * (1.0 - s);
    return chain * d;
  }

 private:
  double clamped(double s) const {
    const double c = objective.clamp;
    return c > 0 ? std::min(std::max(s, c), 1.0 - c) : s;
  }
};

}  // namespace vae::ref
