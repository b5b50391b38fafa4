#pragma once
// The GEMM family: the VAE's dense layers, forward and backward, as our own kernels
// (impl/kernels/gemm.cu; its header comment lists the versions and what each changes).
// Plain C++, no CUDA types: the backend, the tests and the kernel tool include this.
//
//   forward   Y[M,N] = act(X[M,K] · W[N,K]ᵀ + b)        W in PyTorch's [out, in] layout;
//             X is float, or the resident uint8 images scaled by 1/255 on load.
//   backward  G = dY ⊙ act'(Y), applied as a prologue on load (act' from the saved output:
//             relu' = [Y > 0], tanh' = 1 - Y²), then
//             dX[M,K] = G · W,   dW[N,K] = Gᵀ · X,   db[N] = Σ_rows G (fused into dW).
// No float atomics: every output is summed in one fixed order (split-K writes partial sums
// that a second pass adds in slice order), so results are bitwise identical run to run and
// under any thread order of the CPU executor.
//
// Pointers are device memory of the stream's kind (device::Array<T>::data()); outputs and the
// workspace must not overlap any input or each other. Calls are asynchronous on a GPU; a
// CPU-executor stream runs them before returning (or records them while it captures).
//
// Epilogues (forward only, v3-v6: they need the 64-column block tile of gemm_plan.h). In
// place of Y's activation, the finished sums of one row tile go on to the step's next stage
// while they are in registers or shared memory (split-K: in the second pass):
//   likelihood  the decoder's output layer: o = sum + b is never stored; the pixel's NLL and
//               dL/dO (kernels/likelihood_math.h) are, dL/dO in y, the NLL summed per row
//               within each 64-column tile into row_nll[tile][row] (fixed order: the tile's
//               columns in order). likelihood::run v2 turns those into recon, loss, ELBO.
//   latent      the encoder heads, Y = H[B, 2Z] = [mu | logvar] with 2Z <= 64 (one column
//               tile): after H is stored, the block's rows get z = mu + exp(0.5 logvar)·eps
//               for every sample and their KL, as latent::forward v1 computes them.
// and one for the backward, element-wise, so every version has it:
//   latent backward  with K = 1, dX of the decoder's first layer is dz[B, Z]: instead of
//               storing it, each element becomes its dmu and dlogvar in dH = [dmu | dlogvar]
//               (latent::backward v1's operations; with K > 1 an image's K rows lie in other
//               blocks, so latent::backward runs after the GEMM).
#include <cstddef>
#include <cstdint>
#include <string>

#include "device/device.h"
#include "model/config.h"

namespace vae::kernels::gemm {

enum class Activation { identity, relu, tanh };
const char* activation_name(Activation a);

// The kernel versions, in the order they were written (see gemm.cu).
enum class Version : int { naive = 1, shared_tiles = 2, register_blocked = 3, split_k = 4, tf32_wmma = 5, bf16_wmma = 6 };
inline constexpr int kFirstVersion = 1, kLastVersion = 6;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v3 register-blocked"
const char* precision(Version v);     // "fp32", "tf32" (v5) or "bf16" (v6): which tolerances judge it

// Columns of the block tile: the likelihood epilogue's row sums come one per tile.
inline constexpr int kEpilogueTileCols = 64;
inline constexpr int likelihood_tiles(int cols) { return (cols + kEpilogueTileCols - 1) / kEpilogueTileCols; }

struct LikelihoodEpilogue {
  Likelihood likelihood = Likelihood::Bernoulli;
  int batch = 0, samples = 0;              // B, K: row r = k·B + b is image b's sample k
  const float* x = nullptr;                // targets [B, D] (D = the GEMM's out), or
  const std::uint8_t* x_bytes = nullptr;   // [B, D] bytes, read as byte / 255
  bool write_gradient = true;              // dL/dO into y; false: y is not written (may be null)
  float* row_nll = nullptr;                // [likelihood_tiles(D)][K·B] out
};

struct LatentEpilogue {
  int samples = 0;                         // K (B is the GEMM's batch, Z half its out)
  const float* eps = nullptr;              // [K, B, Z]
  float* z = nullptr;                      // [K·B, Z] out
  float* kl = nullptr;                     // [B] out, or null
};

struct LatentBackwardEpilogue {
  const float* heads = nullptr;            // H[B, 2Z] of the forward (B the GEMM's batch, Z its in)
  const float* eps = nullptr;              // [1, B, Z]: one sample
  double beta = 1.0;                       // the configuration's β
  const double* kl_weight = nullptr;       // device scalar w (warm-up), or null for w = 1
  float* d_heads = nullptr;                // [B, 2Z] out; may equal heads
};

struct ForwardArgs {
  int batch = 0, in = 0, out = 0;          // M, K, N
  const float* x = nullptr;                // [M,K], or
  const std::uint8_t* x_bytes = nullptr;   // [M,K] bytes, read as byte / 255
  const float* weight = nullptr;           // [N,K]
  const float* bias = nullptr;             // [N], or null for none
  Activation activation = Activation::identity;
  float* y = nullptr;                      // [M,N]
  float* workspace = nullptr;              // workspace_floats(...) floats (split-K partial sums)
  std::size_t workspace_size = 0;
  const LikelihoodEpilogue* likelihood = nullptr;  // at most one epilogue; activation identity
  const LatentEpilogue* latent = nullptr;
};

struct BackwardArgs {
  int batch = 0, in = 0, out = 0;          // M, K, N
  const float* dy = nullptr;               // [M,N] gradient of the layer's output
  const float* y = nullptr;                // [M,N] the forward's output (act' is read from it)
  Activation activation = Activation::identity;
  const float* x = nullptr;                // [M,K] the forward's input, or
  const std::uint8_t* x_bytes = nullptr;   // [M,K] bytes, read as byte / 255
  const float* weight = nullptr;           // [N,K]
  float* dx = nullptr;                     // [M,K], or null (the first layer needs none, and
                                           // the latent backward epilogue replaces it)
  float* dw = nullptr;                     // [N,K]
  float* db = nullptr;                     // [N], or null
  float* workspace = nullptr;
  std::size_t workspace_size = 0;
  const LatentBackwardEpilogue* latent = nullptr;  // dX's epilogue: dH instead of dX (dx null)
};

enum class Pass { forward, backward };

// Floats of workspace a call needs (0 for versions that do not split K). A pure function
// of the version and the shape, so the split, and with it the summation order, never
// depends on the device.
std::size_t workspace_floats(Version v, Pass pass, int batch, int in, int out);

// Run on the stream's device (Kind::cuda: the nvcc build; Kind::emu: the CPU executor).
// Throws vae::Error for bad arguments (naming the field) or a device without this build.
void forward(const device::Stream& stream, Version v, const ForwardArgs& args);
void backward(const device::Stream& stream, Version v, const BackwardArgs& args);

// Whether a version has the epilogues (the 64x64 block tile: v3-v6).
constexpr bool has_epilogues(Version v) { return int(v) >= int(Version::register_blocked); }

// The checks dispatch() makes, for callers that want the message before launching.
void validate(Version v, const ForwardArgs& args);
void validate(Version v, const BackwardArgs& args);

}  // namespace vae::kernels::gemm
