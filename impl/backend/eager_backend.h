#pragma once
// libtorch-eager: the VAE math in LibTorch ops (libtorch/vae_math), autograd for the
// backward, Adam as in Python's torch.optim.Adam; CPU and CUDA.
#include "backend/registry.h"

namespace vae {

BackendInfo eager_backend_info();

}  // namespace vae
