#pragma once
// The two builds of kernels/conv/conv.cu: vae::kernels::cuda::conv (nvcc, only in a build with
// VAE_WITH_CUDA) and vae::kernels::emu::conv (the host compiler, for the CPU executor).
// conv_dispatch.cpp picks one by the stream's device kind; nothing else calls these.
//
// Include after kernels/launch.h in a kernel file: these namespaces would hide vae::emu from
// launch.h's unqualified `emu::` names.
#include "kernels/conv/conv.h"

namespace vae::kernels::emu::conv {
void forward(const device::Stream& stream, ::vae::kernels::conv::Version v, const ::vae::kernels::conv::ForwardArgs& args);
void backward(const device::Stream& stream, ::vae::kernels::conv::Version v, const ::vae::kernels::conv::BackwardArgs& args);
}  // namespace vae::kernels::emu::conv

namespace vae::kernels::cuda::conv {
void forward(const device::Stream& stream, ::vae::kernels::conv::Version v, const ::vae::kernels::conv::ForwardArgs& args);
void backward(const device::Stream& stream, ::vae::kernels::conv::Version v, const ::vae::kernels::conv::BackwardArgs& args);
}  // namespace vae::kernels::cuda::conv
