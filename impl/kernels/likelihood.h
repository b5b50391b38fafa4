#pragma once
// The likelihood family: the decoder output's negative log-likelihood, its gradient and the
// per-image loss assembly (impl/kernels/likelihood.cu; its header comment lists the versions).
// Plain C++, no CUDA types.
//
// From the logits O[K·B, D] (row k·B + b) and the targets x[B, D] (v1; v2 starts from the
// output GEMM's likelihood epilogue, gemm.h, which computed nll and dL/dO from the GEMM's sums
// and left per-row sums of each 64-column tile; the logits never reach memory):
//   nll(o, x)  bernoulli  max(o,0) - o·x + log(1 + exp(-|o|))        (BCE with logits)
//              gaussian   0.5 (x - m)² + 0.5 log 2π,   m = sigmoid(o)
//   recon[b] = (1/K) Σ_k Σ_d nll       (per row: v1 fixed per-thread strides and a tree, v2 the
//                                       tiles' sums in tile order; then the rows of image b
//                                       added for k = 0..K-1 in order)
//   dL/dO    bernoulli (σ(o) - x)/K;  gaussian (m - x)·m·(1 - m)/K
//            written IN PLACE over O: the logits never need a buffer of their own.
//   loss[b] = recon[b] + β·w · kl[b];   elbo[b] = -(recon[b] + kl[b])
// with β·w the KL term's weight (latent.h: β of the configuration, w the warm-up factor read
// from device memory). Then, optionally, one block adds the batch to the running sums (in
// double, images in order: kernels/step_records.h) and records the step of a non-finite
// recon, KL or loss. No float atomics: bitwise-identical results under any thread order.
#include <cstdint>

#include "device/device.h"
#include "kernels/gemm.h"
#include "kernels/step_records.h"
#include "model/config.h"

namespace vae::kernels::likelihood {

enum class Version : int { row_blocks = 1, tile_sums = 2 };
inline constexpr int kFirstVersion = 1, kLastVersion = 2;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v1 row-blocks"

struct Args {
  Likelihood likelihood = Likelihood::Bernoulli;
  int batch = 0, samples = 0, pixels = 0;  // B, K, D
  float* logits = nullptr;                 // v1 in: O[K·B, D]; out: dL/dO if write_gradient
  bool write_gradient = true;              // v1 false: forward only (evaluation), O left as it was
  const float* row_nll = nullptr;          // v2 in: [gemm::likelihood_tiles(D)][K·B], the output
                                           // GEMM's likelihood epilogue (it wrote dL/dO), or
                                           // with conv_hw the conv family's block sums
                                           // (conv/conv_nll_layout.h)
  int conv_hw = 0, conv_channels = 0;      // v2 after a conv output layer: its H·W and C
                                           // (C·H·W = pixels); 0: after a GEMM
  const float* x = nullptr;                // targets [B, D] as floats, or
  const std::uint8_t* x_bytes = nullptr;   // [B, D] bytes, read as byte / 255 (binarized: 0 or 255);
                                           // v2 reads no targets (the epilogue did)
  const float* kl = nullptr;               // [B] (latent::forward or the GEMM's latent epilogue)
  double beta = 1.0;                       // the configuration's β
  const double* kl_weight = nullptr;       // device scalar w, or null for w = 1
  float* recon = nullptr;                  // [B] out
  float* loss = nullptr;                   // [B] out, or null
  float* elbo = nullptr;                   // [B] out, or null
  RunningSums* sums = nullptr;             // or null: += (B, Σ recon, Σ kl, Σ loss)
  std::int64_t* nonfinite = nullptr;       // [kNonFiniteSlots], or null: no record
  const std::int64_t* steps_taken = nullptr;  // device: optimizer steps before this one, i.e.
                                              // &state->step of adam::DeviceState read before
                                              // adam::step (needed with nonfinite: the record
                                              // is steps_taken + 1, the step being taken)
};

void run(const device::Stream& stream, Version v, const Args& args);

// The checks run() makes, for callers that want the message before launching.
void validate(Version v, const Args& args);

}  // namespace vae::kernels::likelihood
