#pragma once
// The model's activation names (model/layers.h) as the kernels' (kernels/gemm.h), and back:
// the kernel checks build their cases from the model's layer list, and fused-cuda walks it.
#include <stdexcept>

#include "kernels/gemm.h"
#include "model/layers.h"

namespace vae::kernels {

inline gemm::Activation kernel_activation(LayerActivation a) {
  switch (a) {
    case LayerActivation::Relu: return gemm::Activation::relu;
    case LayerActivation::Tanh: return gemm::Activation::tanh;
    case LayerActivation::None: return gemm::Activation::identity;
    default: break;  // fused-cuda refuses such a model up front (its supports())
  }
  throw std::logic_error("kernels: no epilogue for the activation " + to_string(a));
}

inline LayerActivation layer_activation(gemm::Activation a) {
  switch (a) {
    case gemm::Activation::relu: return LayerActivation::Relu;
    case gemm::Activation::tanh: return LayerActivation::Tanh;
    case gemm::Activation::identity: return LayerActivation::None;
  }
  return LayerActivation::None;
}

}  // namespace vae::kernels
