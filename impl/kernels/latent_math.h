#pragma once
// The latent step's per-element math, shared by the latent family (kernels/latent.cu: after the
// heads GEMM, and before it backwards) and the GEMM family's latent epilogues (kernels/gemm.cu:
// inside those GEMMs). One definition, so both paths compute z, the KL and dH with the same
// operations in the same order. Include after kernels/kernel_lang.h.

namespace vae::kernels::VAE_KERNEL_TARGET::latent_math {

// β·w in double, rounded to float once, as LibTorch's (config().beta * kl_weight) scalar. w is
// read from device memory by every thread: a kernel argument would freeze it at capture.
__device__ __forceinline__ float kl_term_weight(double beta, const double* kl_weight) {
  return float(beta * (kl_weight ? *kl_weight : 1.0));
}

// Forward: z = mu + sigma·eps with sigma = exp(0.5 logvar), and one element's KL term
// 1 + logvar - mu² - exp(logvar) (KL = -0.5 Σ_j of them, j in order).
__device__ __forceinline__ float sigma(float logvar) { return expf(0.5f * logvar); }
__device__ __forceinline__ float reparameterize(float mu, float sigma, float eps) { return mu + sigma * eps; }
__device__ __forceinline__ float kl_term(float mu, float logvar) {
  const float variance = expf(logvar);
  return 1.0f + logvar - mu * mu - variance;
}

// Backward of one element: each sample's dz added to the sums (k in order), then the KL term's
// gradient: dmu = Σ dz + β·w·mu, dlogvar = Σ dz·eps·0.5σ + 0.5 β·w (exp(logvar) - 1).
__device__ __forceinline__ float half_sigma(float logvar) { return 0.5f * expf(0.5f * logvar); }
__device__ __forceinline__ void add_sample(float dz, float eps, float half_sigma, float& dmu, float& dlogvar) {
  dmu += dz;
  dlogvar += dz * eps * half_sigma;
}
__device__ __forceinline__ float d_mu(float dmu_sum, float beta_w, float mu) { return dmu_sum + beta_w * mu; }
__device__ __forceinline__ float d_logvar(float dlogvar_sum, float beta_w, float logvar) {
  return dlogvar_sum + 0.5f * beta_w * (expf(logvar) - 1.0f);
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::latent_math
