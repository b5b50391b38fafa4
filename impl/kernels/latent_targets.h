#pragma once
// The two builds of kernels/latent.cu: vae::kernels::cuda::latent (nvcc, only with
// VAE_WITH_CUDA) and vae::kernels::emu::latent (the host compiler, for the CPU executor).
// latent_dispatch.cpp picks one by the stream's device kind. Include after kernels/launch.h.
#include "kernels/latent.h"

namespace vae::kernels::emu::latent {
void forward(const device::Stream& stream, ::vae::kernels::latent::Version v, const ::vae::kernels::latent::ForwardArgs& args);
void backward(const device::Stream& stream, ::vae::kernels::latent::Version v, const ::vae::kernels::latent::BackwardArgs& args);
}  // namespace vae::kernels::emu::latent

namespace vae::kernels::cuda::latent {
void forward(const device::Stream& stream, ::vae::kernels::latent::Version v, const ::vae::kernels::latent::ForwardArgs& args);
void backward(const device::Stream& stream, ::vae::kernels::latent::Version v, const ::vae::kernels::latent::BackwardArgs& args);
}  // namespace vae::kernels::cuda::latent
