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
#include <cstddef>
#include <cstdint>
#include <string>

#include "device/device.h"

namespace vae::kernels::gemm {

enum class Activation { identity, relu, tanh };
const char* activation_name(Activation a);

// The kernel versions, in the order they were written (see gemm.cu).
enum class Version : int { naive = 1, shared_tiles = 2, register_blocked = 3, split_k = 4, tf32_wmma = 5 };
inline constexpr int kFirstVersion = 1, kLastVersion = 5;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v3 register-blocked"
const char* precision(Version v);     // "fp32" or "tf32": which tolerances judge it

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
};

struct BackwardArgs {
  int batch = 0, in = 0, out = 0;          // M, K, N
  const float* dy = nullptr;               // [M,N] gradient of the layer's output
  const float* y = nullptr;                // [M,N] the forward's output (act' is read from it)
  Activation activation = Activation::identity;
  const float* x = nullptr;                // [M,K] the forward's input, or
  const std::uint8_t* x_bytes = nullptr;   // [M,K] bytes, read as byte / 255
  const float* weight = nullptr;           // [N,K]
  float* dx = nullptr;                     // [M,K], or null (the first layer needs none)
  float* dw = nullptr;                     // [N,K]
  float* db = nullptr;                     // [N], or null
  float* workspace = nullptr;
  std::size_t workspace_size = 0;
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

// The checks dispatch() makes, for callers that want the message before launching.
void validate(Version v, const ForwardArgs& args);
void validate(Version v, const BackwardArgs& args);

}  // namespace vae::kernels::gemm
