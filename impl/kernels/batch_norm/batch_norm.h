#pragma once
// The batch-norm family: BatchNorm2d after a conv layer, fused with the layer's activation,
// as our own kernels (impl/kernels/batch_norm/batch_norm.cu lists the versions). Plain C++,
// no CUDA types: the backend, the tests and the kernel tool include this.
//
// x, y are [B, C, HW] (NCHW with the image flattened); per channel over n = B·HW values:
//   training    mean = Σx / n,  var = Σ(x - mean)² / n (biased),  rstd = 1 / sqrt(var + eps),
//               y = act(gamma (x - mean) rstd + beta); mean and rstd saved for the backward;
//               the running statistics updated in place, as nn.BatchNorm2d does:
//                 running_mean = (1 - m) running_mean + m mean,
//                 running_var  = (1 - m) running_var + m var · n / (n - 1),
//                 num_batches_tracked += 1.
//   evaluation  y = act(gamma (x - running_mean) / sqrt(running_var + eps) + beta).
//   backward    g = dY ⊙ act'(Y) (the prologue, act' from the saved output), xhat = (x - mean) rstd:
//               dbeta = Σ g,  dgamma = Σ g xhat,  dx = gamma rstd (g - dbeta / n - xhat dgamma / n);
//               with dbias, also Σ dx per channel: the bias gradient of the conv before the batch
//               norm (its output is x), summed in the dx pass from the values it writes, so the
//               conv's backward needs no channel-sum kernel of its own (one launch and one read
//               of dx fewer per layer). It is zero in exact arithmetic (Σ xhat = 0), rounding
//               noise in floats, as autograd's is.
// Every per-channel sum in a fixed order (no atomics): bitwise identical run to run and under
// any thread order of the CPU executor. The running statistics and counts stay on the device,
// so a captured training step updates them every replay.
#include <cstddef>
#include <cstdint>

#include "device/device.h"
#include "kernels/gemm.h"

namespace vae::kernels::batch_norm {

using Activation = gemm::Activation;

enum class Version : int { block_per_channel = 1, split_channel = 2 };
inline constexpr int kFirstVersion = 1, kLastVersion = 2;
Version version_from_int(int v);
const char* version_name(Version v);  // "v1 block-per-channel", "v2 split-channel"

// v2 cuts each channel's n = B·HW values into slices of whole 256-element strides, one block
// each, until about kTargetBlocks blocks are in flight (v1 runs C blocks: 32 for a 32-channel
// layer, a fraction of a GPU, however large n is); each slice at least kMinSliceElements values.
// A pure function of the shape, so the summation order never depends on the device. One slice:
// v1's kernels.
inline constexpr int kThreads = 256, kTargetBlocks = 264, kMinSliceElements = 16 * kThreads;
struct Split {
  int slices = 1;
  long long slice_elements = 0;  // a multiple of kThreads (the last slice may be shorter)
};
constexpr Split split(Version v, int channels, long long n) {
  Split s{1, n};
  if (v != Version::split_channel || channels <= 0 || n <= kMinSliceElements) return s;
  const long long wanted = (kTargetBlocks + channels - 1) / channels, most = (n + kMinSliceElements - 1) / kMinSliceElements;
  const long long slices = wanted < most ? wanted : most;
  if (slices <= 1) return s;
  const long long per = (n + slices - 1) / slices;
  s.slice_elements = (per + kThreads - 1) / kThreads * kThreads;
  s.slices = int((n + s.slice_elements - 1) / s.slice_elements);
  return s;
}
// Floats of workspace a training forward or backward needs: the per-slice partial sums (three
// per slice and channel), 0 with one slice.
constexpr std::size_t workspace_floats(Version v, int batch, int channels, int hw) {
  const Split s = split(v, channels, 1ll * batch * hw);
  return s.slices <= 1 ? 0 : std::size_t(3) * std::size_t(channels) * std::size_t(s.slices);
}

struct TrainForwardArgs {
  int batch = 0, channels = 0, hw = 0;
  const float* x = nullptr;             // [B, C, HW]
  const float* gamma = nullptr;         // [C] (bn.weight)
  const float* beta = nullptr;          // [C] (bn.bias)
  double eps = 1e-5, momentum = 0.1;    // nn.BatchNorm2d's defaults (model/layers.h)
  Activation activation = Activation::identity;
  float* y = nullptr;                   // [B, C, HW]; may not be x (the backward needs x)
  float* mean = nullptr;                // [C] out, for the backward
  float* rstd = nullptr;                // [C] out
  float* running_mean = nullptr;        // [C] in/out, or null: no running update (then all three null)
  float* running_var = nullptr;         // [C] in/out
  std::int64_t* num_batches_tracked = nullptr;  // scalar in/out
  float* workspace = nullptr;           // workspace_floats(...) floats (v2's slice sums)
  std::size_t workspace_size = 0;
};

struct EvalForwardArgs {
  int batch = 0, channels = 0, hw = 0;
  const float* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* running_mean = nullptr;
  const float* running_var = nullptr;
  double eps = 1e-5;
  Activation activation = Activation::identity;
  float* y = nullptr;
};

struct BackwardArgs {
  int batch = 0, channels = 0, hw = 0;
  const float* dy = nullptr;            // [B, C, HW] gradient of the activation's output
  const float* y = nullptr;             // that output (act' is read from it)
  Activation activation = Activation::identity;
  const float* x = nullptr;             // the forward's input
  const float* gamma = nullptr;
  const float* mean = nullptr;          // the training forward's saved statistics
  const float* rstd = nullptr;
  float* dx = nullptr;                  // [B, C, HW]; may be dy (each element read before written)
  float* dgamma = nullptr;              // [C]
  float* dbeta = nullptr;               // [C]
  float* dbias = nullptr;               // [C] Σ dx per channel (the preceding conv's db), or null
  float* workspace = nullptr;           // workspace_floats(...) floats (v2's slice sums)
  std::size_t workspace_size = 0;
};

// Throw vae::Error naming the field for bad arguments (one value per channel in training is
// nn.BatchNorm2d's "Expected more than 1 value per channel when training").
void validate(Version v, const TrainForwardArgs& a);
void validate(Version v, const EvalForwardArgs& a);
void validate(Version v, const BackwardArgs& a);

void train_forward(const device::Stream& stream, Version v, const TrainForwardArgs& args);
void eval_forward(const device::Stream& stream, Version v, const EvalForwardArgs& args);
void backward(const device::Stream& stream, Version v, const BackwardArgs& args);

}  // namespace vae::kernels::batch_norm
