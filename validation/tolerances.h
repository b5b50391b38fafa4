#pragma once
// Every tolerance the suite judges by, in one place, each with its reasoning.
//
// Notation: u = unit roundoff (double 1.1e-16, float 6.0e-8); n = accumulation length (the
// longest dot product or sum feeding a value: D = 784 pixels, hidden widths up to 512,
// batch sums up to 1000). A recursively summed length-n dot product has forward error
// <= n*u*sum|a_i b_i| (Higham, Accuracy and Stability, 3.1); norm-wise errors of a chain of
// such products grow roughly with the sum of the lengths times the condition of the chain.
#include <stdexcept>
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

// --- A backend against the reference (validation/backend_checks.h) -----------------------
enum class Quantity {
  Recon,       // recon, loss, ELBO per image
  Kl,          // KL per image
  Gradient,    // each gradient tensor of sum_b loss_b
  AdamLoss,    // sum_b loss_b before each of ten Adam steps
  AdamParams,  // all parameters after each of ten Adam steps
};

// fp64 backends (LibTorch in double): the same argument as kTorchFloat64, for every quantity.
// Measured over the matrix (CPU): worst 3e-14 (KL, latent 2, B = 1).
inline constexpr Tolerance kBackendFp64{
    "backend-fp64", 1e-10, 0.0, 0.0,
    "Both sides in double with different summation orders: ~n*u = 1e-13 per accumulated value, "
    "a few such factors through the backward chain and ten Adam steps; 1e-10 leaves margin for "
    "the KL's cancellation and still catches any real mistake (O(1e-3) or larger)."};

// fp32 (u = 6.0e-8). Rounding errors of long sums are random-signed, so they grow like
// sqrt(n)*u rather than the worst case n*u (Higham, ch. 2.8). Measured over the 18-case matrix
// on CPU (libtorch-eager and torchscript), worst norm-wise: recon/loss/ELBO 1.2e-7, KL 4.3e-6,
// gradients 8.2e-7, Adam losses 2.2e-7, Adam parameters 1.7e-6.
inline constexpr Tolerance kFp32Losses{
    "fp32-losses", 1e-5, 0.0, 0.0,
    "A per-image loss passes through accumulations of total length n ~ 784 + 400 + 20 + 400 + "
    "784 ~ 2400 (3000 with hidden [512, 256]): sqrt(n)*u ~ 3e-6, worst case n*u ~ 1.8e-4. 1e-5 "
    "is three times the probabilistic estimate; a wrong term would be O(1e-3) or more."};
inline constexpr Tolerance kFp32Kl{
    "fp32-kl", 1e-4, 0.0, 0.0,
    "KL_b = 1/2 sum_j (mu^2 + e^lv - 1 - lv) subtracts O(1) terms whose result is small at "
    "initialisation (lv, mu ~ 0.1: each term ~ 1e-2), so fp32 rounding of the O(1) parts, "
    "~Z*u absolute, is magnified by sum|terms| / KL ~ 100: ~Z*u*100 / sqrt(Z) ~ 3e-5. 1e-4 "
    "covers that; the loss check (1e-5) still pins KL down wherever KL is large."};
inline constexpr Tolerance kFp32Gradient{
    "fp32-gradient", 2e-5, 0.0, 0.0,
    "A gradient tensor is the end of the forward chain (~3e-6, see fp32-losses) plus two GEMMs "
    "per layer on the way back with inner lengths up to the batch (1000) and D (784): "
    "sqrt(1000)*u ~ 2e-6 each, ~4 layers deep: ~1e-5. 2e-5 leaves a factor of two."};
inline constexpr Tolerance kFp32AdamLoss{
    "fp32-adam-loss", 2e-5, 0.0, 0.0,
    "The batch loss before each of ten steps: the fp32-losses bound (1e-5) plus the effect of "
    "parameters that have drifted by the fp32-adam-params amount, of the same order."};
inline constexpr Tolerance kFp32AdamParams{
    "fp32-adam-params", 2e-5, 0.0, 0.0,
    "Each step rounds every parameter (u per step: 10 steps ~ 6e-7 relative) and moves it by "
    "lr*m/sqrt(v), which inherits the gradient's relative error (~1e-6 measured, tolerance "
    "2e-5) times lr/|p| ~ 1e-3/3e-2. Adam normalises, so an entry whose true gradient is below "
    "fp32 noise could move by lr the other way; with |p| ~ 24 norm-wise one such entry per "
    "step would cost ~4e-5, so this bound also says that did not happen."};

// tf32 (CUDA tensor cores): GEMM inputs rounded to a 10-bit mantissa (u = 4.9e-4), products
// accumulated in fp32. Not yet measured on a GPU; these bounds are argued, not fitted.
inline constexpr Tolerance kTf32Losses{
    "tf32-losses", 5e-3, 0.0, 0.0,
    "Each GEMM's inputs carry relative error u_tf32 = 4.9e-4; random-signed over a product, "
    "four GEMMs deep: ~2*sqrt(4)*u_tf32 ~ 2e-3 on the logits, the BCE sum is no worse than its "
    "inputs. 5e-3 leaves a factor of 2.5."};
inline constexpr Tolerance kTf32Kl{
    "tf32-kl", 2e-2, 0.0, 0.0,
    "mu and log-variance come from one tf32 GEMM (~1e-3 relative); KL ~ mu^2 + lv^2/2 doubles "
    "that, and at initialisation the cancellation of the O(1) terms magnifies it (see fp32-kl) "
    "by up to ~10 here since the error sits in the inputs, not the subtraction: ~2e-2."};
inline constexpr Tolerance kTf32Gradient{
    "tf32-gradient", 2e-2, 0.0, 0.0,
    "The forward's 2e-3 plus two tf32 GEMMs per layer backwards, ~4 layers: ~8 * u_tf32 * "
    "sqrt(2) ~ 6e-3 typical; 2e-2 allows for the small tensors (biases, 20-wide heads)."};
inline constexpr Tolerance kTf32AdamLoss{
    "tf32-adam-loss", 1e-2, 0.0, 0.0, "The tf32-losses bound plus parameter drift after ten steps."};
inline constexpr Tolerance kTf32AdamParams{
    "tf32-adam-params", 1e-3, 0.0, 0.0,
    "Ten steps of at most lr = 1e-3 per entry on |p| ~ 24 norm-wise; a tf32 gradient error of "
    "~1e-2 relative changes the normalised steps by about as much: 1e-2 * lr * sqrt(N) * sqrt(10) "
    "/ 24 ~ 3e-4 for N = 650k."};

// bf16 (bfloat16: 8 significant bits, u = 2^-8 = 3.9e-3, 8x tf32's), for implementations
// outside this repository (`vaebench validate --external-precision bf16`): GEMM inputs in
// bf16 with fp32 accumulation (autocast), outputs possibly written as BF16 (one more rounding,
// ~u/sqrt(3) = 2.3e-3 norm-wise). Every tf32 argument above carries over with u 8x larger;
// no bf16 implementation has been measured here, so these are argued, not fitted. What they
// still catch: a wrong term, a swapped or transposed tensor, a gradient of the mean instead
// of the sum (all O(1)); not a 1e-3 slip of one entry, which is below bf16's own resolution.
inline constexpr Tolerance kBf16Losses{
    "bf16-losses", 4e-2, 0.0, 0.0,
    "tf32-losses' 2*sqrt(4)*u with u = 3.9e-3: ~1.6e-2 on the per-image losses, plus 2.3e-3 for "
    "writing them as BF16; 4e-2 leaves the same factor 2.5 as tf32."};
inline constexpr Tolerance kBf16Kl{
    "bf16-kl", 1.6e-1, 0.0, 0.0,
    "The tf32-kl argument (mu, log-variance from one GEMM, magnified up to ~10 by the "
    "cancellation at initialisation) with u 8x larger: 8 * 2e-2. The loss check (4e-2) still "
    "pins KL down wherever it is large."};
inline constexpr Tolerance kBf16Gradient{
    "bf16-gradient", 1.6e-1, 0.0, 0.0,
    "tf32-gradient's 2e-2 (two GEMMs per layer backwards, small bias and head tensors) with u 8x "
    "larger. A gradient of the mean instead of the sum (off by 1 - 1/B) or a swapped tensor "
    "(O(1)) stays far outside."};
inline constexpr Tolerance kBf16AdamLoss{
    "bf16-adam-loss", 8e-2, 0.0, 0.0, "tf32-adam-loss (1e-2) with u 8x larger: the bf16-losses bound plus drift."};
inline constexpr Tolerance kBf16AdamParams{
    "bf16-adam-params", 2e-2, 0.0, 0.0,
    "tf32-adam-params (1e-3) with u 8x larger is 8e-3 for fp32 master weights; an implementation "
    "that keeps the parameters themselves in bf16 also rounds each of them once at the start and "
    "after every step, ~u/sqrt(3) * sqrt(11) ~ 8e-3 norm-wise for ten steps: 2e-2 covers both."};

// The precisions with tolerances, for option checking and messages.
inline constexpr const char* kPrecisions[] = {"fp64", "fp32", "tf32", "bf16"};
inline bool has_tolerances(const std::string& precision) {
  for (const char* p : kPrecisions)
    if (precision == p) return true;
  return false;
}
inline std::string precision_list() {
  std::string s;
  for (const char* p : kPrecisions) s += (s.empty() ? "" : ", ") + std::string(p);
  return s;
}

// Throws std::invalid_argument for a precision with no tolerances.
inline const Tolerance& backend(Quantity q, const std::string& precision) {
  if (precision == "fp64") return kBackendFp64;
  static_assert(int(Quantity::AdamParams) == 4, "the tables below are indexed in Quantity order");
  const Tolerance* set = nullptr;
  static const Tolerance* const fp32[] = {&kFp32Losses, &kFp32Kl, &kFp32Gradient, &kFp32AdamLoss, &kFp32AdamParams};
  static const Tolerance* const tf32[] = {&kTf32Losses, &kTf32Kl, &kTf32Gradient, &kTf32AdamLoss, &kTf32AdamParams};
  static const Tolerance* const bf16[] = {&kBf16Losses, &kBf16Kl, &kBf16Gradient, &kBf16AdamLoss, &kBf16AdamParams};
  if (precision == "fp32") set = fp32[int(q)];
  if (precision == "tf32") set = tf32[int(q)];
  if (precision == "bf16") set = bf16[int(q)];
  if (!set) throw std::invalid_argument("no tolerances for precision '" + precision + "'; known: " + precision_list());
  return *set;
}

}  // namespace vae::tol
