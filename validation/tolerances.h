#pragma once
// Every tolerance the suite judges by, in one place, each with its reasoning.
//
// Notation: u = unit roundoff (double 1.1e-16, float 6.0e-8); n = accumulation length (the
// longest dot product or sum feeding a value: D = 784 pixels, hidden widths up to 512,
// batch sums up to 1000). A recursively summed length-n dot product has forward error
// <= n*u*sum|a_i b_i| (Higham, Accuracy and Stability, 3.1); norm-wise errors of a chain of
// such products grow roughly with the sum of the lengths times the condition of the chain.
#include <string>

namespace vae::tol {

struct Tolerance {
  const char* name;
  double norm_rel;  // bound on ||got - want|| / ||want|| (norm-wise checks), 0 if unused
  double atol;      // element-wise |got - want| <= atol + rtol * |want| (gradcheck-style), 0 if unused
  double rtol;
  const char* why;
};

// Central finite differences against the analytic gradient, in double.
inline constexpr Tolerance kFiniteDifference{
    "finite-difference", 0.0, 1e-5, 1e-3,
    "torch.autograd.gradcheck defaults (atol 1e-5, rtol 1e-3). Central differences with step "
    "h = 1e-6 have truncation error O(h^2 f''') ~ 1e-12 and rounding error ~ u*|loss_b|/h per "
    "image (1e-13 * 550 nats / 2e-6 ~ 3e-8), summed over at most 128 images: ~4e-7 << atol."};

// Reference (Eigen, hand-written backward) against LibTorch float64 autograd, same inputs.
inline constexpr Tolerance kTorchFloat64{
    "libtorch-float64", 1e-10, 0.0, 0.0,
    "Both sides compute in double with different summation orders, so each value differs by "
    "~n*u relative: 784 * 1.1e-16 ~ 1e-13 for a pixel sum, and the backward chain multiplies "
    "a few such factors (~1e-12). 1e-10 leaves two orders of margin for cancellation, e.g. in "
    "the KL sum and in bias gradients summed over the batch, and still catches any real "
    "mistake (a wrong term is O(1) relative)."};

// Ten Adam steps: reference Adam against torch::optim::Adam, both in double.
inline constexpr Tolerance kAdamFloat64{
    "adam-float64", 1e-10, 0.0, 0.0,
    "Each step moves a parameter by at most ~lr; a gradient error of relative 1e-12 changes "
    "the normalised step m/sqrt(v) by the same relative amount, so after 10 steps parameters "
    "(|p| ~ 0.05) differ by ~10*lr*1e-12 absolute, far below 1e-10 relative. Losses after "
    "the steps inherit the gradient check's 1e-10."};

// Importance-weighted log-likelihood: reference against LibTorch float64 (logsumexp).
inline constexpr Tolerance kImportanceWeightedFloat64{
    "iw-float64", 1e-10, 0.0, 0.0,
    "log w sums D pixel terms and Z latent terms in double (~n*u = 1e-13 relative); both "
    "sides use a max-shifted log-sum-exp, which adds O(u*S) for S samples."};

}  // namespace vae::tol
