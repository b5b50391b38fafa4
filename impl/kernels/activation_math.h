#pragma once
// The activations of the GEMM and conv families: the forward epilogue act(v) and the backward
// prologue dY ⊙ act'(Y), with act' read from the saved output (relu' = [Y > 0], tanh' = 1 - Y²).
// One definition for both families, so a dense and a conv layer round the same way. Include
// after kernels/kernel_lang.h.
#include "kernels/gemm.h"

namespace vae::kernels::VAE_KERNEL_TARGET::activation_math {

using ::vae::kernels::gemm::Activation;

__device__ __forceinline__ float prologue(Activation act, float dy, float y) {
  switch (act) {
    case Activation::relu: return y > 0.0f ? dy : 0.0f;
    case Activation::tanh: return dy * (1.0f - y * y);
    default: return dy;
  }
}

__device__ __forceinline__ float activate(Activation act, float v) {
  switch (act) {
    case Activation::relu: return v > 0.0f ? v : 0.0f;
    case Activation::tanh: return tanhf(v);
    default: return v;
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::activation_math
