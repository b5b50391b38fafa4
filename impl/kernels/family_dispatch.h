#pragma once
// What every kernel family's dispatcher (<family>_dispatch.cpp; dispatch.cpp for gemm) shares:
// checking a version number, and sending a call to the build for the stream's device --
// Kind::emu: the host-compiled kernels (namespace vae::kernels::emu); Kind::cuda: the nvcc
// build (vae::kernels::cuda), which exists only with VAE_WITH_CUDA.
#include <string>

#include "common/error.h"
#include "device/device.h"

namespace vae::kernels {

// The version v of a family whose versions are first..last; throws naming the valid range.
template <class Version>
Version checked_version(const char* family, int v, int first, int last) {
  if (v < first || v > last)
    throw vae::Error(std::string(family) + ": no version " + std::to_string(v) + " (versions are " +
                     std::to_string(first) + ".." + std::to_string(last) + ")");
  return Version(v);
}

[[noreturn]] inline void no_cuda_build(const char* family) {
  throw vae::Error(std::string(family) +
                   ": a CUDA stream, but this build has no CUDA kernels (configured with VAE_WITH_CUDA=OFF); "
                   "use the CPU executor (device cuda-emu)");
}

}  // namespace vae::kernels

// VAE_DISPATCH("latent", stream, latent::forward(stream, v, args)): the call in the build for
// the stream's device.
#if defined(VAE_WITH_CUDA)
#define VAE_DISPATCH(family, stream, call)                                   \
  do {                                                                       \
    if ((stream).kind() == ::vae::device::Kind::emu) return emu::call;       \
    return cuda::call;                                                       \
  } while (0)
#else
#define VAE_DISPATCH(family, stream, call)                                   \
  do {                                                                       \
    if ((stream).kind() == ::vae::device::Kind::emu) return emu::call;       \
    ::vae::kernels::no_cuda_build(family);                                   \
  } while (0)
#endif
