#pragma once
// The double-precision layers of a convolutional VAE: Conv2d, ConvTranspose2d and
// BatchNorm2d exactly as PyTorch defines them, forward and hand-derived backward (no
// autodiff). Every backend's conv layers are judged against these; the tests prove them by
// a direct loop implementation, the adjoint identity, finite differences and LibTorch
// float64 autograd (tests/test_reference_conv_layers*.cpp).
//
// Tensors are NCHW, contiguous, row-major. Weights use PyTorch's layouts:
//   Conv2d           weight [Cout, Cin, k, k]
//   ConvTranspose2d  weight [Cin, Cout, k, k]
// bias [Cout] (nullptr: no bias). Outputs must not alias inputs.
//
// Conv math. A plain conv reads windows of an "image" (its input) and writes a "grid" (its
// output): y[b,co,oy,ox] = bias[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] x[b,ci,oy*s-p+ky,ox*s-p+kx]
// (zero outside the image). As matrices per image, with col = im2col(x) [Cin*k*k, OH*OW]
// and W the weight as [Cout, Cin*k*k]:  Y = W col.  Then for L = sum(dy ⊙ y):
//   dW = dY col^T,   dbias = sum over (b, oy, ox) of dY,   dx = col2im(W^T dY),
// col2im being the adjoint of im2col (it adds each column entry back where it was read).
// A transposed conv is defined as the adjoint of a plain conv in the data: its forward is
// the plain conv's data gradient, x_T -> col2im(W^T x_T), on the plain conv that maps its
// output size back to its input size (that plain conv's output size is floor((OH+2p-k)/s)+1
// = H exactly because output_padding < stride). So its data gradient is that plain conv's
// forward, dx_T = W im2col(dy_T), and its weight gradient dW = x_T im2col(dy_T)^T. One
// im2col/col2im pair serves both.
//
// Batch norm math (training mode, per channel over n = B*H*W values):
//   mu = mean(x), var = mean((x - mu)^2) (biased), sigma = sqrt(var + eps),
//   xhat = (x - mu) / sigma, y = gamma xhat + beta.
// Backward: dbeta = sum(dy), dgamma = sum(dy xhat). For dx, d(xhat_i)/d(x_j) =
// (delta_ij - 1/n - xhat_i xhat_j / n) / sigma (mu moves by 1/n, sigma by xhat_j/(n sigma) per
// unit of x_j), so
//   dx = (gamma / sigma) (dy - mean(dy) - xhat mean(dy xhat)).
// Evaluation mode uses running statistics, which are constants: dx = gamma dy / sqrt(rv + eps).
#include <cstdint>
#include <string>
#include <vector>

#include "model/conv_geometry.h"
#include "model/layers.h"

namespace vae::ref {

// One conv or transposed-conv layer's geometry: model/conv_geometry.h's, shared with the
// model description and the conv kernels.
using ConvGeometry = ::vae::ConvGeometry;

// y [batch, Cout, out_h, out_w] from x [batch, Cin, in_h, in_w]; bias may be nullptr.
void conv_forward(const ConvGeometry& g, int batch, const double* x, const double* weight, const double* bias,
                  double* y);

// Gradients of sum(dy ⊙ y) with respect to x, weight and bias, for dy shaped like y. Each of
// dx, dweight, dbias may be nullptr (not wanted); what is given is overwritten, not added to.
void conv_backward(const ConvGeometry& g, int batch, const double* x, const double* weight, const double* dy,
                   double* dx, double* dweight, double* dbias);

// BatchNorm2d's defaults: kBatchNormEps, kBatchNormMomentum (model/layers.h).

// Per-channel statistics of one batch, over (B, H, W).
struct BatchNormStats {
  std::vector<double> mean, var_biased;
};

// Training mode: batch statistics, biased variance; y = gamma (x - mean) / sqrt(var + eps) + beta.
// x and y are [batch, channels, hw]; gamma, beta [channels] may be nullptr (affine=False: 1, 0).
// One value per channel (batch * hw == 1) throws vae::Error with nn.BatchNorm2d's message,
// "Expected more than 1 value per channel when training": there the normalised value is 0/0
// and the unbiased variance for the running update is undefined.
void batch_norm_train_forward(int batch, int channels, int hw, const double* x, const double* gamma,
                              const double* beta, double eps, double* y, BatchNormStats& stats);

// Gradients of sum(dy ⊙ y) through the training-mode forward (the batch statistics depend on
// x), given the forward's stats. dx, dgamma, dbeta may each be nullptr; overwritten.
void batch_norm_train_backward(int batch, int channels, int hw, const double* x, const double* gamma,
                               const BatchNormStats& stats, double eps, const double* dy, double* dx,
                               double* dgamma, double* dbeta);

// Evaluation mode: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
void batch_norm_eval_forward(int batch, int channels, int hw, const double* x, const double* gamma,
                             const double* beta, const double* running_mean, const double* running_var,
                             double eps, double* y);

// Gradients of sum(dy ⊙ y) through the evaluation-mode forward (the running statistics are
// constants): dx = gamma dy / sqrt(rv + eps), dgamma = sum(dy xhat), dbeta = sum(dy). Each of
// dx, dgamma, dbeta may be nullptr; overwritten. (A model in eval mode while it trains: one of
// the known mistakes the diagnosis computes, validation/diagnosis.h.)
void batch_norm_eval_backward(int batch, int channels, int hw, const double* x, const double* gamma,
                              const double* running_mean, const double* running_var, double eps, const double* dy,
                              double* dx, double* dgamma, double* dbeta);

// PyTorch's running-statistics update after a training-mode forward:
//   running_mean = (1 - m) running_mean + m mean
//   running_var  = (1 - m) running_var  + m var_biased n / (n - 1)   (the unbiased variance)
// n = B*H*W, the values per channel. n < 2 throws vae::Error: the unbiased variance is 0/0 there
// (PyTorch's raw batch_norm op writes NaN into running_var; nn.BatchNorm2d refuses the forward).
void batch_norm_update_running(const BatchNormStats& stats, int64_t n, double momentum, double* running_mean,
                               double* running_var);

}  // namespace vae::ref
