#pragma once
// The likelihood's per-pixel math, shared by the likelihood family (kernels/likelihood.cu, v1:
// from the logits in memory) and the GEMM family's likelihood epilogue (kernels/gemm.cu: from
// the output GEMM's sums, so the logits never reach memory). One definition, so the two paths
// compute dL/dO with the same operations. Include after kernels/kernel_lang.h.
#include "model/config.h"

namespace vae::kernels::VAE_KERNEL_TARGET::likelihood_math {

constexpr float kHalfLog2Pi = 0.918938533204672741780f;

// The stable logistic: exp of a non-positive argument only.
__device__ __forceinline__ float sigmoid(float o) {
  if (o >= 0.0f) return 1.0f / (1.0f + expf(-o));
  const float e = expf(o);
  return e / (1.0f + e);
}

// The target x[at]: floats, or a byte / 255.
__device__ __forceinline__ float target(const float* x, const unsigned char* x_bytes, long long at) {
  return x_bytes ? float(x_bytes[at]) / 255.0f : x[at];
}

// -log p(x | o) of one pixel; its derivative divided by K into *gradient.
__device__ __forceinline__ float pixel_nll(Likelihood lik, float o, float x, float samples, float* gradient) {
  const float m = sigmoid(o);
  if (lik == Likelihood::Bernoulli) {
    *gradient = (m - x) / samples;
    return fmaxf(o, 0.0f) - o * x + log1pf(expf(-fabsf(o)));
  }
  *gradient = (m - x) * m * (1.0f - m) / samples;
  const float d = x - m;
  return 0.5f * d * d + kHalfLog2Pi;
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::likelihood_math
