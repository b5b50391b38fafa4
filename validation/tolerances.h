#pragma once
// Every tolerance the suite judges by, in one place, each with its reasoning.
//
// Notation: u = unit roundoff (double 1.1e-16, float 6.0e-8); n = accumulation length (the
// longest dot product or sum feeding a value: D = 784 pixels, hidden widths up to 512,
// batch sums up to 1000). A recursively summed length-n dot product has forward error
// <= n*u*sum|a_i b_i| (Higham, Accuracy and Stability, 3.1); norm-wise errors of a chain of
// such products grow roughly with the sum of the lengths times the condition of the chain.
//
// Convolutional models (model/layers.h) accumulate over C_in*k^2 terms per output in a conv's
// forward (conv-mnist: 16, 512, 1024; conv-celeba64 up to 128*16 = 2048), over C_out*(k/s)^2
// in a transposed conv's (~4 C_out), and over B*H_out*W_out in a weight gradient (conv-mnist's
// first layer at batch 128: 128*14*14 = 25088). The per-value chain of a loss is then
// ~16+512+1024+1152 (heads)+20+512+256+128+784 ~ 4400 terms: sqrt(n)*u ~ 4e-6, inside fp32-losses;
// a weight gradient's sqrt(25088)*u ~ 1e-5 is one layer's share, inside fp32-gradient's 2e-5
// with the same depth argument. So the bounds below hold for them unchanged; measured on the
// CPU over the 8 convolutional cases of the backend matrix (libtorch-eager and torchscript
// alike): losses <= 0.8 % of fp32-losses, KL 10.6 % of fp32-kl (conv-mnist b128), gradients
// <= 28 % of fp32-gradient (the worst: conv-bn b16's bias before batch norm, against its
// weight-gradient scale), adam.step 97 % of adam-step (conv-celeba64
// b2, element-wise; the MLP cases reach 87-93 % of it). Batch norm divides by a batch
// standard deviation (a sum of n = B*H*W squares, relative error ~sqrt(n)*u) and its backward
// subtracts two means of the same size; the bias before it has an identically zero gradient
// and is judged against its layer's weight gradient (validation/gradient_compare.h).
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/precision.h"
#include "model/config.h"

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
  AdamLoss,    // free-running losses after Adam steps (training-path tests; not check_backend)
  AdamParams,  // free-running parameters after Adam steps (training-path tests; not check_backend)
  RunningStats,  // batch norm's running statistics after a training step (validation/running_stats_compare.h)
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
// Adam in check_backend is not judged on these two: it is judged step by step along the
// backend's own trajectory (adam.loss and adam.grad.* with fp32-losses / fp32-gradient at the
// point the backend stands on, adam.step and adam.moments with adam-step / adam-step-moments
// below). A free-running comparison of ten steps has no local bound: Adam's normalisation
// maps a gradient entry below the fp32 floor (|g| <~ u * sum|terms|; 7.7e-8 and 9.4e-8 in
// hidden512x256-b128) to a move of ~lr whose sign the rounding decides, the moments keep it,
// and the dynamics amplify it (relu' flips, neighbouring small gradients): 8.8e-6 after one
// step, 3.8e-3 after ten in that case, with no bug anywhere. Adam is also scale-invariant, so
// the trajectory barely sees gradient errors (1e-3 on dec.1.weight moves it by 7e-10).
// These two remain for the training-path tests (six steps of a small model, batch 32: short
// and small enough to have stayed far from that regime) and for "unchanged up to the
// backend's rounding" checks.
inline constexpr Tolerance kFp32AdamLoss{
    "fp32-adam-loss", 2e-5, 0.0, 0.0,
    "Free-running: the batch loss after a few steps from the same start, fp32 against double. "
    "The fp32-losses bound (1e-5) plus the effect of parameters that have drifted by the "
    "fp32-adam-params amount, of the same order. Not used by check_backend (see above)."};
inline constexpr Tolerance kFp32AdamParams{
    "fp32-adam-params", 2e-5, 0.0, 0.0,
    "Free-running: all parameters after a few steps from the same start. Each step rounds every "
    "parameter (u per step) and moves it by lr*m/sqrt(v), which inherits the gradient's relative "
    "error times lr/|p| ~ 1e-3/3e-2. Holds only while no gradient entry sits below fp32 noise "
    "(one such entry moves by ~lr the wrong way: ~4e-5 with |p| ~ 24 norm-wise), which is why "
    "check_backend judges each step locally instead (see above) and reports this drift unjudged."};

// Batch norm's running statistics after a training step: (1-m) r + m s, with s the batch
// mean, or the unbiased variance, over N = B*H*W values (K*B*H*W in the decoder) of a layer's
// pre-norm output (momentum m = 0.1). Judged per layer (validation/running_stats_compare.h):
// the mean against sqrt(||mean||^2 + ||m*sigma||^2), sigma the batch's standard deviation
// (a mean near zero has no relative accuracy: its error is a share of the spread it cancels),
// the variance against what the step added, sqrt(||m*sigma^2||^2 + (0.01 ||var||)^2), and
// num_batches_tracked exactly. Measured on the CPU over the batch-norm cases of the backend
// matrix (libtorch-eager and torchscript): worst 31 % (conv-bn-k3 b2, enc.0: the variance,
// where storing the running variance in fp32 is itself ~6e-6 of that scale).
inline constexpr Tolerance kFp32RunningStats{
    "fp32-running-stats", 2e-5, 0.0, 0.0,
    "Each pre-norm value carries the forward chain's error up to its layer (<= the whole "
    "chain's sqrt(n)*u ~ 4e-6, see fp32-losses); the batch sums add sqrt(N)*u relative to the "
    "spread (N = 16*14*14 = 3136 in the matrix: 3.4e-6) and the variance doubles a value's "
    "relative error; storing the result in fp32 adds u |var| per entry, <= 6e-6 of the "
    "variance's scale. ~1.5e-5 in all; 2e-5 still sees a biased variance (m sigma^2 / N against "
    "m sigma^2: 2.6e-3 at N = 392), a wrong momentum (O(1)) or a mean over the wrong axes."};
inline constexpr Tolerance kTf32RunningStats{
    "tf32-running-stats", 5e-3, 0.0, 0.0,
    "The pre-norm values come from tf32 convolutions (see tf32-losses: ~2e-3 four GEMMs deep, "
    "less for the first layers); their batch sums are fp32. 5e-3 as tf32-losses."};
inline constexpr Tolerance kBf16RunningStats{
    "bf16-running-stats", 4e-2, 0.0, 0.0,
    "As tf32-running-stats with bf16's u = 3.9e-3 on the operands: 4e-2 as bf16-losses."};

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
// Deeper than four weight layers (mu and log-variance count once; conv-mnist: 8) the ReLU
// masks dominate a tf32 gradient: a pre-activation within the forward's error of zero flips
// its unit's mask, and a gradient summed over many units moves by ~sqrt(p) relative when a
// fraction p of its random-signed terms flips (a rounding error moves it by ~p instead).
// p ~ 0.8 x the forward's relative error (a unit-variance pre-activation's density at 0),
// which grows as sqrt(L) x ~3e-4 per tf32 conv or GEMM (vaebench-kernels check --version 4:
// 2.5-3.3e-4 norm-wise on every conv-mnist layer): sqrt(0.8 * sqrt(8) * 3e-4) ~ 2.6e-2 at L = 8.
// Measured on the CPU executor (exact tf32 rounding): conv-mnist b16's worst tensor 2.2e-2
// (enc.0.weight; dec.out.weight 7e-5, before any mask), the conv-bn training path's median
// 3.3e-2, its worst step 4.8e-2. The shallow MLPs stay within tf32-gradient (default-b128's
// worst 6e-3).
inline constexpr Tolerance kTf32GradientDeep{
    "tf32-gradient-deep", 8e-2, 0.0, 0.0,
    "Models deeper than four weight layers: ReLU masks flipped by the tf32 forward's error move a "
    "gradient by ~sqrt(p), p ~ 0.8 * sqrt(L) * 3e-4 (2.6e-2 at L = 8; measured worst 4.8e-2). "
    "8e-2 leaves a factor 1.7; a mean instead of a sum (off by 1 - 1/B >= 0.5) or a swapped "
    "tensor (O(1)) stays far outside."};
inline constexpr int kShallowGradientLayers = 4;  // what tf32-gradient's argument covers
inline constexpr Tolerance kTf32AdamLoss{
    "tf32-adam-loss", 1e-2, 0.0, 0.0,
    "Free-running (training-path tests only): the tf32-losses bound plus parameter drift after "
    "a few steps. check_backend judges tf32 Adam step by step (tf32-losses, tf32-gradient at the "
    "backend's own point; adam-step, adam-step-moments for the update, which is fp32 arithmetic)."};
inline constexpr Tolerance kTf32AdamParams{
    "tf32-adam-params", 1e-3, 0.0, 0.0,
    "Free-running (training-path tests only): ten steps of at most lr = 1e-3 per entry on "
    "|p| ~ 24 norm-wise; a tf32 gradient error of ~1e-2 relative changes the normalised steps by "
    "about as much: 1e-2 * lr * sqrt(N) * sqrt(10) / 24 ~ 3e-4 for N = 650k."};

// --- GEMM kernels (impl/kernels/gemm.h) against a double-precision GEMM on the same inputs ----
// Each output is act(Σ_p a_p·b_p + bias) over n terms (n = the GEMM's inner length: K for the
// forward, N for dX, the batch for dW and db). Two checks:
//   element-wise  |got - want| <= elementwise(n) * scale,
//                 scale = Σ_p |a_p·b_p| + |bias| + |want|   (Higham's componentwise form,
//                 robust to cancellation); for the backward prologue G = dY ⊙ act'(Y) the
//                 scale uses |dY| for |G| (|act'| <= 1), which also covers rounding 1 - Y².
//   norm-wise     ||got - want||_2 / ||want||_2 <= normwise(n).
// Accumulation: a dot product summed in any order has |error| <= γ_n Σ|a_p b_p| (worst case
// n·u); for rounding errors that are independent and mean-zero (the random inputs of every
// kernel check) it is <= λ·sqrt(n)·u·Σ|a_p b_p| except with probability <= 2n·exp(-λ²/2)
// (Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019, Thm 3.1); λ = 8 makes that ~1e-13 per
// element. n + 4 counts the bias add, the epilogue (tanhf: <= 2 ulp on a GPU) and the
// operand conversion (byte / 255, the prologue's products).
struct GemmTolerance {
  const char* name;
  double accumulation_u;  // roundoff per addition of the fp32 accumulation
  double operand_u;       // relative rounding of each operand before the products (0: none)
  const char* why;

  // Bound on |got - want| / scale (see above).
  double elementwise(int n) const { return 2.0 * operand_u + 8.0 * std::sqrt(n + 4.0) * accumulation_u; }
  // Bound on ||got - want|| / ||want||. Random-signed products make ||want|| ~ sqrt(n)·rms(a·b)
  // while the rounding error of each output is ~ sqrt(n/6)·u·|partial sums| ~ 0.4·sqrt(n)·u
  // relative (fp32), or ~0.8·operand_u relative (tf32: two roundings of ~u/sqrt(3) rms per
  // product, summed like the products themselves); the bounds give those estimates a factor
  // of five, plus 4u for the epilogue's own roundings.
  double normwise(int n) const {
    return 5.0 * operand_u + (2.0 * std::sqrt(double(n)) + 4.0) * accumulation_u;
  }
};

inline constexpr GemmTolerance kGemmFp32{
    "gemm-fp32", 5.96e-8, 0.0,
    "fp32 products and sums (u = 2^-24): element-wise 8*sqrt(n+4)*u, 1.4e-5 for n = 785; "
    "norm-wise (2*sqrt(n)+4)*u, 3.6e-6 for n = 785. A dropped or doubled term is "
    "~1/n of the scale element-wise (1.3e-3 for n = 785) and ~1/sqrt(n) norm-wise: 100x over."};
inline constexpr GemmTolerance kGemmTf32{
    "gemm-tf32", 2.0 * 5.96e-8, 4.88e-4,
    "Operands rounded to tf32 (10-bit mantissa, round to nearest: relative 2^-11 = 4.9e-4 "
    "each), products exact in fp32, fp32 sums; the tensor cores' accumulation is not always "
    "round-to-nearest, so twice fp32's u per add. Element-wise 2*2^-11 + 16*sqrt(n+4)*u (1.0e-3 "
    "for n = 785, worst case for the operand rounding); norm-wise 5*2^-11 + ... = 2.5e-3 "
    "(expected ~4e-4). A dropped term (~1/sqrt(n) = 3.6e-2 norm-wise) is still 10x over."};

inline constexpr GemmTolerance kGemmBf16{
    "gemm-bf16", 2.0 * 5.96e-8, 3.90625e-3,
    "Operands rounded to bf16 (8-bit significand, round to nearest even: relative 2^-8 = 3.9e-3 "
    "each), products exact in fp32, fp32 sums (twice fp32's u per add, as tf32). Element-wise "
    "2*2^-8 + 16*sqrt(n+4)*u = 7.8e-3 for n = 785; norm-wise 5*2^-8 + ... = 2.0e-2 (expected "
    "~0.8*2^-8 = 3e-3). A gradient summed in bf16 instead of fp32 (each add rounded to 2^-8 of "
    "the running sum: ~sqrt(n)*2^-8/sqrt(3) = 6e-2 for n = 785) and a dropped term (1/sqrt(n) = "
    "3.6e-2 norm-wise) are over it."};

// The conv family (kernels/conv/conv_check.cpp) is judged by these bounds as the implicit
// GEMM it is: n is its direction's depth (C_in·k² forward, C_out·k² for dX, B·H_out·W_out for
// dW), the scale the same conv run on |x|, |w|, |dY|.
//
// Batch norm (kernels/batch_norm/batch_norm_check.cpp): the same two bounds with n = B·H·W, the
// length of every per-channel sum, and scales that carry each sum's error into its output.
// Per channel, with m̄ = Σ|x|/n and xhat = (x - mean)·rstd:
//   mean          Σx/n: m̄.
//   rstd          1/sqrt(var + eps), var = Σ(x - mean)²/n a sum of squares (no cancellation;
//                 the mean's error δ enters only as δ²): relative, scale rstd.
//   y             gamma·xhat + beta, then the activation (|act'| <= 1): the mean's error through
//                 |gamma|·rstd·m̄, rstd's relative error through |gamma|·|xhat|, plus |beta|.
//   running stats (1-m)·r + m·s: (1-m)|r| + m·(the statistic's scale); the count is exact.
//   evaluation    no sum: n = 8 roundings (subtract, divide, sqrt, scale, shift, activation),
//                 scale |gamma|·(|x| + |running_mean|)/sqrt(running_var + eps) + |beta|.
//   backward      judged on the saved float mean and rstd the kernel reads: dbeta = Σg, scale
//                 Σ|dY|; dgamma = Σ g·xhat, scale Σ|dY|·|xhat|; dx = gamma·rstd·(g - dbeta/n
//                 - xhat·dgamma/n), scale |gamma|·rstd·(|dY| + Σ|dY|/n + |xhat|·Σ|dY||xhat|/n).
// Each adds |want|. The norm-wise check is relative to ||scale||, not ||want||: batch norm's
// outputs cancel by construction (with n = 2 each xhat is ±1 and dx is 0 in exact arithmetic;
// y's error is the mean's, amplified by rstd·m̄, not proportional to |y|), and the errors of
// the sums are ~ sqrt(n)·u of the scale, which the bound gives a factor of five as for the GEMM.
// A missing term (1/n of a sum's scale) fails while 1/n exceeds the element-wise bound,
// 8·sqrt(n + 4)·u: every n below ~16000 (the CPU executor's checks use n <= 4207).

// The GEMM tolerance of a kernel precision ("fp32", "tf32", "bf16"); throws std::invalid_argument.
inline const GemmTolerance& gemm(const std::string& precision) {
  switch (find_precision(precision).value_or(Precision::fp64)) {
    case Precision::fp32: return kGemmFp32;
    case Precision::tf32: return kGemmTf32;
    case Precision::bf16: return kGemmBf16;
    case Precision::fp64: break;
  }
  throw std::invalid_argument("no GEMM tolerances for precision '" + precision + "'");
}

// --- Fused-step kernels (impl/kernels/latent.h, likelihood.h, adam.h) against double ---------
// The kernels' float results against the same formulas in double on the same float inputs,
// element-wise in Higham's componentwise form:
//   |got - want| <= bound(n) * scale,   bound(n) = (n + roundings) * u,   u = 2^-24 (float),
// where n is the value's accumulation length (a sum of n terms in any fixed order, recursive
// or tree, has error <= (n - 1) u Σ|terms|: Higham 3.1, 4.2), `roundings` counts the other
// float operations on the way (expf/log1pf counted as 2: CUDA's are within 2 ulp, glibc's
// within 1), and scale is Σ of the absolute values of the terms that form the value (given
// with each tolerance): cancellation cannot make the check fail on a correct kernel. These are
// worst-case bounds, so they hold on every input; they still catch a wrong or missing term:
// one pixel of D = 784 is 1/784 = 1.3e-3 of a recon, 27x its bound (792 u = 4.7e-5).
struct KernelTolerance {
  const char* name;
  double roundings;      // roundings besides the accumulation
  double unit_roundoff;  // u of the arithmetic: 2^-24 (float) or 2^-53 (double)
  const char* why;
  double bound(double n) const { return (n + roundings) * unit_roundoff; }
};

inline constexpr KernelTolerance kLatentZ{
    "latent-z", 5.0, 5.96e-8,
    "z = mu + exp(0.5 lv) * eps, no accumulation (n = 0): expf (2), the product and the sum, "
    "plus one for the rounding of z itself; scale |mu| + |sigma * eps|."};
inline constexpr KernelTolerance kLatentKl{
    "latent-kl", 6.0, 5.96e-8,
    "kl = -0.5 sum_j (1 + lv - mu^2 - exp(lv)) over n = Z terms in order; each term takes expf "
    "(2), the square and three additions; scale 0.5 sum_j (1 + |lv| + mu^2 + exp(lv)), which "
    "also bounds the cancellation at mu ~ 0, lv ~ 0 where KL itself is ~0."};
inline constexpr KernelTolerance kLatentDmu{
    "latent-dmu", 3.0, 5.96e-8,
    "dmu = sum_k dz_k + (beta*w) mu over n = K terms plus one: beta*w rounded to float, its "
    "product with mu and the final add; scale sum_k |dz_k| + |beta w mu|."};
inline constexpr KernelTolerance kLatentDlogvar{
    "latent-dlogvar", 7.0, 5.96e-8,
    "dlogvar = sum_k dz_k eps_k 0.5 sigma + 0.5 beta w (exp(lv) - 1) over n = K terms: expf for "
    "sigma (2), two products per term, and for the KL part expf (2), beta*w's rounding, the "
    "subtraction and product; scale sum_k |dz_k eps_k 0.5 sigma| + 0.5 |beta w| (exp(lv) + 1)."};
inline constexpr KernelTolerance kLikelihoodGradient{
    "likelihood-gradient", 9.0, 5.96e-8,
    "dL/do per pixel, n = 0: sigmoid (expf 2, add, divide), the difference with x, the division "
    "by K; gaussian also multiplies by m and by 1 - m, whose absolute error ~4u m is relative to "
    "m, not to 1 - m. Scale: bernoulli (|s| + |x|) / K; gaussian (|m| + |x|) |m| (|1-m| + |m|) / K."};
inline constexpr KernelTolerance kLikelihoodRecon{
    "likelihood-recon", 10.0, 5.96e-8,
    "recon_b = (1/K) sum over n = K*D pixel terms (v1: per-thread strides, a 256-wide tree, then "
    "the K rows in order; v2: each 64-column tile's terms in the GEMM epilogue's order, the tiles "
    "in order, then the K rows: either way a fixed order of n - 1 additions); each term takes up to 7 roundings "
    "(expf and log1pf 2 each, product, two adds; gaussian: sigmoid and a square), then / K. "
    "Scale: the sum over the K*D pixels of |max(o,0)| + |o x| + log1p(exp(-|o|)) (bernoulli) or "
    "0.5 (|x| + |m|)^2 + 0.92 (gaussian), / K. The same bound covers loss = recon + beta*w*kl and "
    "elbo = -(recon + kl) with |beta w kl| (resp. |kl|) added to the scale and 3 roundings."};
inline constexpr KernelTolerance kRunningSumsDouble{
    "running-sums-double", 2.0, 1.11e-16,
    "The device's running sums add the batch's float per-image values in double (per-thread "
    "strides, then a tree: n = B additions) onto the previous sum; scale the previous sum's "
    "magnitude plus sum_b |value_b|."};
inline constexpr KernelTolerance kAdamKernelParams{
    "adam-kernel-params", 0.0, 5.96e-8,
    "Ten fp32 Adam steps against reference/adam.cpp in double on the same (float) gradients. "
    "Per step the parameter is rounded once (u |p|) and moved by lr m^/(sqrt(v^) + eps), whose "
    "relative error is ~6 roundings plus that of m (absolute <= 2 t u M, M the same recurrence "
    "on |g|) and half that of v (<= 2 t u relative, v sums positives); Adam's normalisation "
    "bounds M^/sqrt(v^) by ~3 for t <= 10, so step t adds <= (6 + 6 t) u lr. Summed over n "
    "steps: <= n u |p| + 3 n (n + 1) u lr <= bound(n) * (|p| + 4 (n + 1) lr)."};
inline constexpr KernelTolerance kAdamKernelMoments{
    "adam-kernel-moments", 0.0, 5.96e-8,
    "m and v after n steps: each step rounds the fused multiply-add once and uses 1 - beta1, "
    "beta2, 1 - beta2 rounded to float (relative u/2 each): |m error| <= 2 n u M with M the "
    "recurrence on |g|, |v error| <= 2 n u v (v sums positives). Check: bound(2n) * (M or v)."};

// One Adam step of a float backend (fp32 or tf32: the update is fp32 arithmetic either way),
// judged element-wise against reference/adam.cpp in double applied to the backend's own
// parameters p0, moments (m0, v0, step t-1) and gradient g, all taken from the backend, so
// nothing but this step's arithmetic separates the two (check_backend, "adam.step",
// "adam.moments"). Scales, from the reference's values: M1 = beta1 |m0| + (1 - beta1) |g|
// (bounds |m1| and the terms forming it), S = (lr / bc1) M1 / (sqrt(v1) / sqrt(bc2) + eps) (the
// largest the normalised step can be), bc1 = 1 - beta1^t, bc2 = 1 - beta2^t.
inline constexpr KernelTolerance kAdamStepMoments{
    "adam-step-moments", 4.0, 5.96e-8,
    "m1 = lerp(m0, g, 1 - beta1): 1 - beta1 rounded to float, g - m0, the product and the add, "
    "each <= u relative (u = 2^-24): <= 0.4 u |g| + 1.2 u |m0| <= 4 u M1. v1 = beta2 v0 + "
    "(1 - beta2) g^2: beta2 and 1 - beta2 rounded, the products and the add, all of positive "
    "terms: <= 4 u v1. Check: |m1 - want| <= bound(0) M1, |v1 - want| <= bound(0) v1. One step "
    "from the backend's own state, so the error does not accumulate over steps."};
inline constexpr KernelTolerance kAdamStep{
    "adam-step", 0.0, 5.96e-8,
    "p1 = p0 - (lr / bc1) m1 / (sqrt(v1) / sqrt(bc2) + eps) in fp32: the denominator carries "
    "v1's 4u (half through the square root), the square root, sqrt(bc2) and eps as float, the "
    "division and the add: <= 7u relative; the quotient, lr / bc1 as float and the product add "
    "3u; m1's absolute error 4 u M1 adds 4u of S: the step is within 14 u S, and rounding p1 adds "
    "u (|p0| + S), an amount that is attained: a p1 just above a power of two with a small step "
    "reads 90-97% of the bound from this rounding alone (hidden512x256-b128, entries with g = 0), "
    "which is the worst case, not a near miss. Check: |p1 - want| <= bound(1) (|p0| + 16 S) + "
    "adam_float_scalars(t) S, where "
    "the last term covers an Adam that forms its bias corrections in float (torch's capturable "
    "Adam, which a replayed CUDA graph must use: beta^t from float beta, see below); LibTorch's "
    "eager Adam and the fused kernel form them in double. Catches lr off by 1e-3 (>= 10x the "
    "bound at every step for an entry with |m1| ~ M1; the float-scalar term dominates there, "
    "without it ~250x at |p| ~ 0.05), a missing bias correction "
    "(a factor 1 - beta1^t), another eps (entries with |g| ~ eps), moments not kept or a step "
    "count not advanced (st0 is read back from the backend before every step)."};

// Relative error of the bias-corrected step size when bc1 and bc2 are formed in float: beta
// rounded to float (u) raised to t (t u, plus 2 ulp for powf) makes beta^t off by (t + 2) u
// beta^t, which 1 - beta^t turns into (t + 2) u beta^t / (1 - beta^t) relative (sqrt halves
// it for bc2); 4u for the reciprocal and the products with lr, eps and sqrt(bc2). At t = 1:
// 9e-5 (bc2 = 1e-3 is ill-conditioned), t = 10: 3.6e-5; still 10x below lr off by 1e-3.
inline double adam_float_scalars(long long t, double beta1, double beta2) {
  const double u = 5.96e-8, b1t = std::pow(beta1, double(t)), b2t = std::pow(beta2, double(t));
  return (double(t) + 2.0) * u * (b1t / (1.0 - b1t) + 0.5 * b2t / (1.0 - b2t)) + 4.0 * u;
}

// bf16 (bfloat16: 8 significant bits, u = 2^-8 = 3.9e-3, 8x tf32's): autocast's mixed
// precision (common/precision.h) -- our LibTorch backends (torch autocast), fused-cuda (GEMM
// v6 / conv v5: bf16 operands, fp32 sums) and outside implementations (`--external-precision
// bf16`, whose results may be written as BF16: one more rounding, <= 2^-9, which each bound
// below covers). One set judges all three. Each bound is argued from u and the accumulation
// lengths, and checked against the worst value measured over the whole backend matrix (the
// figures quoted); tests/test_mixed_precision.cpp shows the bounds catch the mistakes bf16
// implementations make: master weights kept in bf16 (adam.step, which is precision-free, fails
// by 10^4), the KL computed in bf16 (bf16-kl) and a GEMM accumulated in bf16
// (bf16-gradient-output). What they do not catch: a 1e-3 slip of one entry, below bf16's own
// resolution.
inline constexpr Tolerance kBf16Losses{
    "bf16-losses", 1e-2, 0.0, 0.0,
    "Each per-image loss sums D pixel terms whose logits carry the bf16 forward's error; those "
    "errors vary in sign from pixel to pixel, so the sum is far more accurate than one logit: "
    "measured <= 8.3e-4 over the whole matrix (LibTorch autocast on the CPU, fused-cuda's v6 on "
    "the executor). An implementation that writes its results as BF16 adds one rounding, <= "
    "2^-9 = 2e-3. 1e-2 covers both with a factor 3.5."};
inline constexpr Tolerance kBf16Kl{
    "bf16-kl", 2e-2, 0.0, 0.0,
    "mu and log-variance leave their GEMM rounded to bf16 (autocast's output dtype: u/2 = 2e-3 "
    "relative each); KL's terms mu^2 + e^lv - lv - 1 computed from them in fp32 carry about u "
    "relative, and the GEMM's own error adds what cancellation at initialisation magnifies: "
    "measured <= 4.2e-3 over the matrix. 2e-2 is 5x that. Computing the KL itself in bf16 fails "
    "it: 1 + lv rounds at 2^-9 absolute while the terms are ~lv^2/2 near initialisation "
    "(measured 6.4e-2 on default-b128, tests/test_mixed_precision.cpp)."};
inline constexpr Tolerance kBf16Gradient{
    "bf16-gradient", 1.6e-1, 0.0, 0.0,
    "The gradients of the layers below the output: tf32-gradient's 2e-2 with u 8x larger. There "
    "ReLU masks flipped by the forward's bf16 error move a gradient by ~sqrt(p) (tf32-gradient-"
    "deep's argument): measured <= 5.2e-2 on the MLPs (latent7-b1 enc.0.weight, one image: a "
    "few flipped units weigh the most), a factor 3. A gradient of the mean instead of the sum "
    "(off by 1 - 1/B) or a swapped tensor (O(1)) stays far outside; accumulation mistakes are "
    "caught by bf16-gradient-output and bf16-kl, which no flip reaches."};
inline constexpr Tolerance kBf16GradientOutput{
    "bf16-gradient-output", 1e-2, 0.0, 0.0,
    "A dense output layer's weight and bias: dL/dO = sigmoid(o) - x (fp32, insensitive to o's "
    "error: slope <= 1/4) and the last hidden activation meet in one GEMM with bf16 operands (u/2 "
    "each) and fp32 sums over the B*K rows, its result rounded to bf16 once (autocast): ~u/2 = "
    "2e-3 norm-wise, measured <= 2.5e-3 over the matrix. No activation lies between these "
    "tensors and the loss, so no mask flip reaches them. 1e-2 (5x as the GEMM bounds) fails a "
    "GEMM accumulated in bf16 (the bias, summed over B*K rows in bf16: 2.3e-2 on default-b128). "
    "Not for a conv output layer: its weights are shared by every pixel, and the sum over B*H*W "
    "adds the forward's correlated logit errors coherently (conv-dense-between-b5's one-channel "
    "bias: 1.1e-2 median of the Adam steps); it keeps bf16-gradient(-deep)."};
inline constexpr Tolerance kBf16GradientDeep{
    "bf16-gradient-deep", 3.2e-1, 0.0, 0.0,
    "tf32-gradient-deep's argument (ReLU and batch-norm statistics moved by the forward's error, "
    "growing with the distance from the output) with bf16's u: sqrt(8) x 8e-2 = 0.23; measured "
    "<= 0.167 (conv-bn-b16 enc.1.weight, conv-celeba64-b2 enc.0.weight, LibTorch autocast, "
    "which also rounds every activation and activation gradient to bf16). 0.32 leaves 1.9x. At "
    "this bound a per-tensor check catches O(1) mistakes only (a mean for a sum at B >= 4, a "
    "swapped tensor); the losses, KL and output-layer gradients carry the fine checks."};
inline constexpr Tolerance kBf16AdamLoss{
    "bf16-adam-loss", 8e-2, 0.0, 0.0, "tf32-adam-loss (1e-2) with u 8x larger: the bf16-losses bound plus drift."};
inline constexpr Tolerance kBf16AdamParams{
    "bf16-adam-params", 2e-2, 0.0, 0.0,
    "tf32-adam-params (1e-3) with u 8x larger is 8e-3 for fp32 master weights; an implementation "
    "that keeps the parameters themselves in bf16 also rounds each of them once at the start and "
    "after every step, ~u/sqrt(3) * sqrt(11) ~ 8e-3 norm-wise for ten steps: 2e-2 covers both."};

// Every precision of common/precision.h has tolerances (find_precision, precision_names).
// Throws std::invalid_argument for a precision with no tolerances.
inline const Tolerance& backend(Quantity q, const std::string& precision) {
  static_assert(int(Quantity::RunningStats) == 5, "the tables below are indexed in Quantity order");
  static const Tolerance* const fp32[] = {&kFp32Losses,    &kFp32Kl,         &kFp32Gradient,
                                          &kFp32AdamLoss,  &kFp32AdamParams, &kFp32RunningStats};
  static const Tolerance* const tf32[] = {&kTf32Losses,    &kTf32Kl,         &kTf32Gradient,
                                          &kTf32AdamLoss,  &kTf32AdamParams, &kTf32RunningStats};
  static const Tolerance* const bf16[] = {&kBf16Losses,    &kBf16Kl,         &kBf16Gradient,
                                          &kBf16AdamLoss,  &kBf16AdamParams, &kBf16RunningStats};
  const std::optional<Precision> p = find_precision(precision);
  if (!p) throw std::invalid_argument("no tolerances for precision '" + precision + "'; known: " + precision_names());
  switch (*p) {
    case Precision::fp64: return kBackendFp64;
    case Precision::fp32: return *fp32[int(q)];
    case Precision::tf32: return *tf32[int(q)];
    case Precision::bf16: return *bf16[int(q)];
  }
  throw std::logic_error("unhandled precision");
}

// The gradient tolerance of a model with `weight_layers` layers (mu and log-variance counted
// once): tf32-gradient-deep past kShallowGradientLayers in tf32, else backend(Gradient, ...).
// In bf16 the output layer's tensors (`output_layer`) have their own, tight bound.
inline const Tolerance& gradient(const std::string& precision, int weight_layers, bool output_layer = false) {
  const Tolerance& shallow = backend(Quantity::Gradient, precision);  // throws for an unknown precision
  const bool deep = weight_layers > kShallowGradientLayers;
  switch (*find_precision(precision)) {
    case Precision::bf16: return output_layer ? kBf16GradientOutput : deep ? kBf16GradientDeep : shallow;
    case Precision::tf32: return deep ? kTf32GradientDeep : shallow;
    case Precision::fp64:
    case Precision::fp32: return shallow;
  }
  return shallow;
}

// --- The continuous Bernoulli in float precisions ------------------------------------------
// Its log-normaliser's derivative, d log C / dp = (du/dp) / u + 2 / (1 - 2p) with
// u = log(1-p) - log p, is the difference of two terms of size 2/|1-2p| that cancel to
// ~(8/3)(p - 1/2). Computed as PyTorch computes it (exact outside 0.499 < p < 0.501), u carries
// an absolute rounding error ~u_prec, so the first term's error is ~4 u_prec / u^2: at the
// window's edge (|u| = 0.004) 2.5e5 u_prec = 1.5e-2 in fp32 -- larger than the derivative
// itself there (2.7e-3) -- times s(1-s) <= 1/4 on a pixel's logit gradient, whose honest size is
// |p - x| ~ 0.1-1. One such pixel among D puts ~4e-3 / (0.3 sqrt(D)) on the output layer's
// gradient norm-wise: 2e-3 for D = 36, 5e-4 for D = 784 (measured, an honest fp32 LibTorch
// implementation, D = 36, B = 5: 2.4e-4 on the log-variance head). The losses are not
// affected (log C's own error is ~u_prec / |u| per pixel, 1.5e-5 at worst against losses of
// ~D/2 nats). A tensor that sums every pixel's logit gradient -- a conv output layer's bias,
// one scalar per channel -- adds those errors coherently against a sum of signed terms that
// largely cancel (measured, honest fp32, conv-bn style model: 2.6e-3 on dec.out.bias). So float
// precisions judge a continuous-Bernoulli gradient at no less than 1e-2, four times the worst
// measured; the known mistakes (validation/diagnosis.h) stay apart at it (tests/test_diagnosis.cpp
// names each of them on a continuous-Bernoulli case in fp32), but a uniform 1e-3 error of every
// gradient is below it, which that test's planted check says.
// The losses: a pixel's NLL, bce - log C, changes sign (log C >= log 2 cancels the BCE of
// p ~ 1/2), so near initialisation recon_b sums D terms of +-0.7 to a few tenths of a nat: the
// fp32 rounding of the terms (sqrt(D) u 0.7 ~ 1e-6 for D = 784) and log C's error at the
// pixels near the window's edge (~u/|u(p)| = 1.5e-5 each) are relative to that small sum, not
// to the terms (measured: 1.7e-4 on train.recon, 784-[16]-4, B = 3, after four Adam steps).
// Float precisions judge a continuous-Bernoulli recon, loss and ELBO at no less than 1e-3.
inline constexpr double kContinuousBernoulliGradientFloor = 1e-2;
inline constexpr double kContinuousBernoulliLossFloor = 1e-3;

// `base` for a continuous-Bernoulli model at `precision`: base itself in fp64 or when it is
// already at least `floor`, else raised to `floor`, named "continuous-bernoulli(<base>)".
// A tolerance derived from another at run time (a floor raised, a bound scaled), named `name`
// with the norm-wise bound `norm_rel`: one stable object per (name, bound), so that its name
// outlives every Comparison that points at it.
inline const Tolerance& derived(const std::string& name, double norm_rel, const char* why) {
  struct Entry {
    std::string name;
    Tolerance tol;
  };
  static std::mutex m;
  static std::map<std::pair<std::string, double>, Entry> entries;  // nodes are stable
  const std::lock_guard<std::mutex> lock(m);
  auto it = entries.find({name, norm_rel});
  if (it == entries.end()) {
    it = entries.emplace(std::make_pair(name, norm_rel), Entry{name, {}}).first;
    it->second.tol = {it->second.name.c_str(), norm_rel, 0.0, 0.0, why};
  }
  return it->second.tol;
}

inline const Tolerance& continuous_bernoulli(const Tolerance& base, const std::string& precision, double floor) {
  if (find_precision(precision) == Precision::fp64 || base.norm_rel >= floor) return base;
  return derived("continuous-bernoulli(" + std::string(base.name) + ")", floor,
                 "The continuous Bernoulli's log-normaliser cancels near p = 1/2 (see kContinuousBernoulli*).");
}

inline const Tolerance& continuous_bernoulli_gradient(const Tolerance& base, const std::string& precision) {
  return continuous_bernoulli(base, precision, kContinuousBernoulliGradientFloor);
}

// backend(q, precision) for a model whose likelihood is `likelihood`: the continuous
// Bernoulli's floors above on recon/loss/ELBO (and the losses after Adam steps) and gradients.
inline const Tolerance& backend(Quantity q, const std::string& precision, Likelihood likelihood) {
  const Tolerance& base = backend(q, precision);
  if (likelihood != Likelihood::ContinuousBernoulli) return base;
  switch (q) {
    case Quantity::Recon:
    case Quantity::AdamLoss: return continuous_bernoulli(base, precision, kContinuousBernoulliLossFloor);
    case Quantity::Gradient: return continuous_bernoulli_gradient(base, precision);
    default: return base;
  }
}

// --- Data-parallel against single-process (validation/data_parallel_checks.h) ------------
// N ranks each sum their B/N images' terms, then the all-reduce sums the N partial results
// in the backend's element type (fp32 for a float backend, in Gloo's or NCCL's order): every
// sum of the step still has at most B/N + N - 1 <= B terms, the accumulation length the
// single-process bounds above assume. The data-parallel and the single-process step are each
// within that bound of the exact value, so within twice it of each other (triangle
// inequality), and no margin is added: the bugs this is for are orders larger (a mean instead
// of the sum is 1 - 1/N relative; rank 0's noise on every rank changes the noise of N-1 of N
// slices, O(1) in their images' terms). Across the ranks nothing is tolerated: every rank
// applies the same reduced gradient to the same parameters, so they agree bit for bit.
inline constexpr double kDataParallelFactor = 2.0;
inline constexpr const char* kDataParallelWhy =
    "Twice the single-process bound: both sides are within it of the exact value, and a data-parallel "
    "sum (B/N terms per rank, then N partial sums) is no longer than the single-process one (B terms).";

// A short data-parallel training (`train --nproc N`, a few epochs) against the same training in
// one process: the epochs' train and test losses, relative. Free-running, so no rounding
// argument bounds it (tolerances above: fp32-adam-loss); the steps differ by the
// data-parallel gradient bound (~4e-5 relative at most, measured ~1e-7), Adam normalises each
// step to ~lr, and over an epoch of 120 steps the losses moved by 1.6e-8 relative (measured:
// 784-[32]-2, batch 500, 2 ranks). 2e-5, fp32-adam-loss's bound, leaves three orders for
// other models and longer runs, and still fails rank 0's noise on every rank (2.2e-4 on the
// test loss) and loss sums left unreduced (5e-4 on the train loss). A mean in place of the
// sum is invisible here -- Adam's step m / sqrt(v) does not change when the gradient is
// scaled -- and is left to the gradient checks of `validate --nproc`.
inline constexpr Tolerance kDataParallelTraining{
    "data-parallel-training", 2e-5, 0.0, 0.0,
    "Free-running: a data-parallel training's epoch losses against one process's, relative; "
    "measured 1.6e-8 after 120 steps, fp32-adam-loss's bound."};

// `single` scaled by kDataParallelFactor, named "data-parallel(<single>)"; throws
// std::invalid_argument for a tolerance without a norm-wise bound.
inline const Tolerance& data_parallel(const Tolerance& single) {
  if (!(single.norm_rel > 0)) throw std::invalid_argument(std::string(single.name) + " has no norm-wise bound to scale");
  return derived("data-parallel(" + std::string(single.name) + ")", kDataParallelFactor * single.norm_rel,
                 kDataParallelWhy);
}

}  // namespace vae::tol
