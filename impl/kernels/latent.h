#pragma once
// The latent family: reparameterization, KL and their backward, between the encoder heads
// GEMM and the decoder (impl/kernels/latent.cu; its header comment lists the versions).
// Plain C++, no CUDA types.
//
//   forward   from the heads' output H[B, 2Z] (row b = [mu_b | logvar_b], one GEMM of width
//             2Z) and eps[K, B, Z]:
//               z[k·B + b, j] = mu[b,j] + exp(0.5 logvar[b,j]) · eps[k,b,j]       [K·B, Z]
//               kl[b] = -0.5 Σ_j (1 + logvar - mu² - exp(logvar)), j = 0..Z-1 in order
//   backward  from dz[K·B, Z] (the decoder's input gradient):
//               dmu     = Σ_k dz_k + β·w · mu                                  (k in order)
//               dlogvar = Σ_k dz_k ⊙ eps_k ⊙ 0.5σ + 0.5 β·w · (exp(logvar) - 1)
//             into dH[B, 2Z] = [dmu | dlogvar], which may be H itself (each element is read
//             by the thread that overwrites it).
// β·w is the KL term's weight: β of the configuration times the warm-up factor w, read from
// device memory (a double) so a captured step can change it without a new capture; as in the
// LibTorch backends, β·w is formed in double and rounded to float once.
// Every value is computed by one thread in a fixed order: bitwise-identical results under any
// thread order. Pointers are device memory of the stream's kind.
#include <cstdint>

#include "device/device.h"

namespace vae::kernels::latent {

enum class Version : int { per_image = 1 };
inline constexpr int kFirstVersion = 1, kLastVersion = 1;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v1 per-image"

struct ForwardArgs {
  int batch = 0, latent = 0, samples = 0;  // B, Z, K
  const float* heads = nullptr;            // H[B, 2Z]
  const float* eps = nullptr;              // [K, B, Z]
  float* z = nullptr;                      // [K·B, Z]
  float* kl = nullptr;                     // [B], or null when no one reads it
};

struct BackwardArgs {
  int batch = 0, latent = 0, samples = 0;  // B, Z, K
  const float* heads = nullptr;            // H[B, 2Z] of the forward
  const float* eps = nullptr;              // [K, B, Z]
  const float* dz = nullptr;               // [K·B, Z]
  double beta = 1.0;                       // the configuration's β
  const double* kl_weight = nullptr;       // device scalar w (warm-up), or null for w = 1
  float* d_heads = nullptr;                // [B, 2Z]; may equal heads
};

void forward(const device::Stream& stream, Version v, const ForwardArgs& args);
void backward(const device::Stream& stream, Version v, const BackwardArgs& args);

// The checks forward/backward make, for callers that want the message before launching.
void validate(Version v, const ForwardArgs& args);
void validate(Version v, const BackwardArgs& args);

}  // namespace vae::kernels::latent
