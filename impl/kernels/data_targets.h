#pragma once
// The two builds of kernels/data.cu: vae::kernels::cuda::data (nvcc, only with VAE_WITH_CUDA)
// and vae::kernels::emu::data (the host compiler, for the CPU executor). data_dispatch.cpp
// picks one by the stream's device kind. Include after kernels/launch.h.
#include "kernels/data.h"

namespace vae::kernels::emu::data {
void gather(const device::Stream& stream, ::vae::kernels::data::Version v, const ::vae::kernels::data::GatherArgs& args);
void advance(const device::Stream& stream, ::vae::kernels::data::BatchCursor* cursor, int batch);
void noise(const device::Stream& stream, ::vae::kernels::data::Version v, const ::vae::kernels::data::NoiseArgs& args);
}  // namespace vae::kernels::emu::data

namespace vae::kernels::cuda::data {
void gather(const device::Stream& stream, ::vae::kernels::data::Version v, const ::vae::kernels::data::GatherArgs& args);
void advance(const device::Stream& stream, ::vae::kernels::data::BatchCursor* cursor, int batch);
void noise(const device::Stream& stream, ::vae::kernels::data::Version v, const ::vae::kernels::data::NoiseArgs& args);
}  // namespace vae::kernels::cuda::data
