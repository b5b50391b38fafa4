#pragma once
// The two builds of kernels/gemm.cu: vae::kernels::cuda::gemm (nvcc, only in a build with
// VAE_WITH_CUDA) and vae::kernels::emu::gemm (the host compiler, for the CPU executor).
// gemm_dispatch.cpp picks one by the stream's device kind; nothing else calls these.
//
// Include after kernels/launch.h in a kernel file: these namespaces would hide vae::emu from
// launch.h's unqualified `emu::` names.
#include "kernels/gemm.h"

namespace vae::kernels::emu::gemm {
void forward(const device::Stream& stream, ::vae::kernels::gemm::Version v, const ::vae::kernels::gemm::ForwardArgs& args);
void backward(const device::Stream& stream, ::vae::kernels::gemm::Version v, const ::vae::kernels::gemm::BackwardArgs& args);
}  // namespace vae::kernels::emu::gemm

namespace vae::kernels::cuda::gemm {
void forward(const device::Stream& stream, ::vae::kernels::gemm::Version v, const ::vae::kernels::gemm::ForwardArgs& args);
void backward(const device::Stream& stream, ::vae::kernels::gemm::Version v, const ::vae::kernels::gemm::BackwardArgs& args);
}  // namespace vae::kernels::cuda::gemm
