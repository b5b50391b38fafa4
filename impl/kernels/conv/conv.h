#pragma once
// The conv family: the VAE's conv2d and conv_transpose2d layers, forward and backward, as our
// own kernels (impl/kernels/conv/conv.cu; its header comment lists the versions and what each
// changes). Plain C++, no CUDA types: the backend, the tests and the kernel tool include this.
//
// Tensors are NCHW, as at the Backend boundary; weights in PyTorch's shapes: conv2d
// [Cout, Cin, k, k], conv_transpose2d [Cin, Cout, k, k]. The geometry is model/conv_geometry.h's
// (the layer as PyTorch's arguments); x is [B, Cin, H, W], y [B, Cout, Ho, Wo].
//
//   forward   y = act(conv(x, W) + b)   (or the transposed conv)
//             x is float, or the resident uint8 images scaled by 1/255 on load.
//   backward  G = dY ⊙ act'(Y), applied as a prologue on load (act' from the saved output:
//             relu' = [Y > 0], tanh' = 1 - Y²), then dX, dW and db = Σ_{b,h,w} G per channel.
//
// Three directions of one plain convolution ("the core": a[B, Ca, Ha, Wa] -> b[B, Cb, Hb, Wb]
// with weight [Cb, Ca, k, k]) cover both layer kinds, since a transposed conv's forward is a
// conv's data gradient and its data gradient a conv's forward:
//                 conv2d (a = x, b = y)      conv_transpose2d (a = y, b = x)
//   forward       y  = core forward          dx = core forward of G
//   data grad     dx = core data grad of G   y  = core data grad of x
//   weight grad   dW = core weight grad (a = x, db = G)   dW = core weight grad (a = G, db = x)
// Each direction is a GEMM over an operand that is never materialised (implicit im2col):
//   forward       rows B·Hb·Wb, cols Cb, depth Ca·k²
//   data grad     rows B·Ha·Wa, cols Ca, depth Cb·k² (taps that miss the stride grid are zero)
//   weight grad   rows Cb, cols Ca·k², depth B·Hb·Wb (long: v3, v4 split it, see conv_plan.h)
// No float atomics: every output is summed in one fixed order (split reductions write partial
// sums that a second pass adds in slice order), so results are bitwise identical run to run
// and under any thread order of the CPU executor.
//
// Pointers are device memory of the stream's kind; outputs and the workspace must not overlap
// any input or each other. Calls are asynchronous on a GPU; a CPU-executor stream runs them
// before returning (or records them while it captures).
#include <cstddef>
#include <cstdint>
#include <string>

#include "device/device.h"
#include "kernels/gemm.h"
#include "model/config.h"
#include "model/conv_geometry.h"

namespace vae::kernels::conv {

using Activation = gemm::Activation;  // the same epilogue and prologue as the dense layers

// The kernel versions, in the order they were written (see conv.cu).
enum class Version : int { direct = 1, shared_tiles = 2, register_blocked = 3, tf32_wmma = 4, bf16_wmma = 5 };
inline constexpr int kFirstVersion = 1, kLastVersion = 5;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v2 shared-tiles"
const char* precision(Version v);     // "fp32", "tf32" (v4) or "bf16" (v5): which tolerances judge it

// The core convolution's three directions (above).
enum class Direction { forward, data_gradient, weight_gradient };
const char* direction_name(Direction d);  // "forward", "data-grad", "weight-grad"

// The decoder's output layer with the likelihood in its epilogue (v3, v4), as the GEMM
// family's (gemm.h): the logits o = sum + bias never reach memory; each element's
// -log p(x | o) (likelihood_math.h) and, with write_gradient, dL/dO into y. The NLL leaves
// as per-block image sums (conv_nll_layout.h), which likelihood v2 (Args::conv_hw) assembles
// into the per-image losses. The layer's activation must be the identity; its output is never
// split (the sums need whole block tiles).
struct LikelihoodEpilogue {
  Likelihood likelihood = Likelihood::Bernoulli;
  int batch = 0, samples = 0;              // B, K: the conv's batch is K·B, image k·B + b
  const float* x = nullptr;                // targets [B, C·H·W] (the layer's output shape), or
  const std::uint8_t* x_bytes = nullptr;   // [B, C·H·W] bytes, read as byte / 255
  bool write_gradient = true;              // dL/dO into y; false: y is not written (may be null)
  float* block_nll = nullptr;              // [likelihood_floats(geometry, K·B)] out
};

// Floats of LikelihoodEpilogue::block_nll for the layer at `batch` (= K·B) images.
std::size_t likelihood_floats(const ConvGeometry& geometry, int batch);
// Whether a version has the likelihood epilogue (v3, v4).
constexpr bool has_likelihood_epilogue(Version v) { return int(v) >= 3; }

// Batch norm in evaluation after the layer, in its epilogue (every version): with o = sum +
// bias, y = act(gamma ((o - running_mean) · 1/sqrt(running_var + eps)) + beta) per output
// channel, through eval_forward's own per-element function (batch_norm/batch_norm_math.h: the
// same bits as the conv then eval_forward), so the conv's own output never reaches memory. Evaluation only: training
// needs the batch's statistics of that output first. The layer's activation must be identity.
struct EvalBatchNormEpilogue {
  const float* gamma = nullptr;          // [Cout] bn.weight, or null (1)
  const float* beta = nullptr;           // [Cout] bn.bias, or null (0)
  const float* running_mean = nullptr;   // [Cout]
  const float* running_var = nullptr;    // [Cout]
  double eps = 1e-5;                     // used as float(eps), as eval_forward does
  Activation activation = Activation::identity;  // after batch norm
};

struct ForwardArgs {
  ConvGeometry geometry;
  int batch = 0;
  const float* x = nullptr;                // [B, Cin, H, W], or
  const std::uint8_t* x_bytes = nullptr;   // the same as bytes, read as byte / 255
  const float* weight = nullptr;           // PyTorch's shape (above)
  const float* bias = nullptr;             // [Cout], or null for none
  Activation activation = Activation::identity;
  float* y = nullptr;                      // [B, Cout, Ho, Wo]
  float* workspace = nullptr;              // workspace_floats(...) floats (split sums)
  std::size_t workspace_size = 0;
  const LikelihoodEpilogue* likelihood = nullptr;  // the output layer's, or null
  const EvalBatchNormEpilogue* eval_batch_norm = nullptr;  // batch norm in evaluation, or null
};

struct BackwardArgs {
  ConvGeometry geometry;
  int batch = 0;
  const float* dy = nullptr;               // [B, Cout, Ho, Wo] gradient of the layer's output
  const float* y = nullptr;                // the forward's output (act' is read from it)
  Activation activation = Activation::identity;
  const float* x = nullptr;                // [B, Cin, H, W] the forward's input, or
  const std::uint8_t* x_bytes = nullptr;   // bytes / 255
  const float* weight = nullptr;
  float* dx = nullptr;                     // [B, Cin, H, W], or null (the first layer needs none)
  float* dw = nullptr;                     // PyTorch's weight shape
  float* db = nullptr;                     // [Cout], or null
  float* workspace = nullptr;
  std::size_t workspace_size = 0;
};

enum class Pass { forward, backward };

// Floats of workspace a call needs (0 when the version splits nothing). A pure function of
// the version and the shape, so the split, and with it the summation order, never depends on
// the device.
std::size_t workspace_floats(Version v, Pass pass, const ConvGeometry& geometry, int batch);

// Run on the stream's device (Kind::cuda: the nvcc build; Kind::emu: the CPU executor).
// Throws vae::Error for bad arguments (naming the field and the layer) or a device without
// this build.
void forward(const device::Stream& stream, Version v, const ForwardArgs& args);
void backward(const device::Stream& stream, Version v, const BackwardArgs& args);

// The checks forward()/backward() make, for callers that want the message before launching.
void validate(Version v, const ForwardArgs& args);
void validate(Version v, const BackwardArgs& args);

}  // namespace vae::kernels::conv
