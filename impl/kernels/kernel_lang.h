#pragma once
// Include first in every kernel family file (kernels/<family>.cu). The same source is
// compiled twice:
//   by nvcc, for the GPU: CUDA's own headers, kernels in namespace vae::kernels::cuda;
//   by the host compiler (kernels/<family>_emu.cpp includes the .cu), for the CPU executor:
//     impl/emu/cuda_emu.h, kernels in namespace vae::kernels::emu.
// The two namespaces let both builds of a family live in one program (the fused-cuda backend
// offers the GPU and the CPU executor side by side).
//
//   namespace vae::kernels::VAE_KERNEL_TARGET { ...kernels and launchers... }
//
// Static shared memory is declared the same way in both builds, VAE_SHARED(tile, float[16][17]);
// (the CPU executor counts each declaration's bytes against CUDA's limits, emu/cuda_emu.h).
// VAE_UNROLL before a loop with a constant trip count asks nvcc to unroll it: a register array
// indexed in a loop that stays rolled lives in local memory (a stack frame, LDL/STL).
#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>
#define VAE_KERNEL_TARGET cuda
#define VAE_KERNEL_DEVICE_KIND ::vae::device::Kind::cuda
namespace vae::kernels {
template <class T>
using SharedType = T;  // lets an array type stand in the declarator's place
}
#define VAE_SHARED(name, ...) __shared__ ::vae::kernels::SharedType<__VA_ARGS__> name
#define VAE_UNROLL _Pragma("unroll")
#else
#define VAE_UNROLL
#include "emu/cuda_emu.h"
#define VAE_KERNEL_TARGET emu
#define VAE_KERNEL_DEVICE_KIND ::vae::device::Kind::emu
#endif

#include <cstddef>

// In the build's own namespace: the two builds define it differently (see launch.h).
namespace vae::kernels::VAE_KERNEL_TARGET {

// The block's dynamic shared memory as count elements of T. On the CPU executor a request
// over the launch's dynamic_shared_bytes is a named KernelError (on the GPU it would read
// past the allocation, which only compute-sanitizer sees).
template <class T>
__device__ __forceinline__ T* dynamic_shared(std::size_t count) {
#if defined(__CUDACC__)
  (void)count;
  extern __shared__ __align__(16) unsigned char vae_dynamic_shared_memory[];
  return reinterpret_cast<T*>(vae_dynamic_shared_memory);
#else
  return static_cast<T*>(::vae::emu::dynamic_shared(count * sizeof(T)));
#endif
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET

namespace vae::kernels {
using VAE_KERNEL_TARGET::dynamic_shared;
}
