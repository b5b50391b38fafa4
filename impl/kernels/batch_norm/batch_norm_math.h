#pragma once
// Batch norm in evaluation, one element: y = act(gamma ((x - running_mean) · 1/sqrt(running_var
// + eps)) + beta) for channel c. Shared by batch_norm's eval_forward kernel and the conv
// family's EvalBatchNormEpilogue (conv.h), so the fused epilogue computes the same operations
// in the same order as the separate kernel: the same bits, by construction. Include after
// kernels/kernel_lang.h.
#include "kernels/activation_math.h"

namespace vae::kernels::VAE_KERNEL_TARGET::batch_norm_math {

using ::vae::kernels::gemm::Activation;

// gamma and beta may be null (1 and 0: affine=False); eps is used as float(eps).
__device__ __forceinline__ float eval_normalize(Activation activation, float x, int c, const float* gamma,
                                                const float* beta, const float* running_mean,
                                                const float* running_var, double eps) {
  const float rstd = 1.0f / sqrtf(running_var[c] + float(eps));
  const float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
  return activation_math::activate(activation, g * ((x - running_mean[c]) * rstd) + b);
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::batch_norm_math
