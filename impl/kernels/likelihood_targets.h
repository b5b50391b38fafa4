#pragma once
// The two builds of kernels/likelihood.cu: vae::kernels::cuda::likelihood (nvcc, only with
// VAE_WITH_CUDA) and vae::kernels::emu::likelihood (the host compiler, for the CPU executor).
// likelihood_dispatch.cpp picks one by the stream's device kind. Include after kernels/launch.h.
#include "kernels/likelihood.h"

namespace vae::kernels::emu::likelihood {
void run(const device::Stream& stream, ::vae::kernels::likelihood::Version v, const ::vae::kernels::likelihood::Args& args);
}  // namespace vae::kernels::emu::likelihood

namespace vae::kernels::cuda::likelihood {
void run(const device::Stream& stream, ::vae::kernels::likelihood::Version v, const ::vae::kernels::likelihood::Args& args);
}  // namespace vae::kernels::cuda::likelihood
