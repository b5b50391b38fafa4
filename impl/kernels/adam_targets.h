#pragma once
// The two builds of kernels/adam.cu: vae::kernels::cuda::adam (nvcc, only with VAE_WITH_CUDA)
// and vae::kernels::emu::adam (the host compiler, for the CPU executor). adam_dispatch.cpp
// picks one by the stream's device kind. Include after kernels/launch.h.
#include "kernels/adam.h"

namespace vae::kernels::emu::adam {
void step(const device::Stream& stream, ::vae::kernels::adam::Version v, const ::vae::kernels::adam::StepArgs& args);
}  // namespace vae::kernels::emu::adam

namespace vae::kernels::cuda::adam {
void step(const device::Stream& stream, ::vae::kernels::adam::Version v, const ::vae::kernels::adam::StepArgs& args);
}  // namespace vae::kernels::cuda::adam
