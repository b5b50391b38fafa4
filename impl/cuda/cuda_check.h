#pragma once
// VAE_CUDA_CHECK(call): throws vae::Error with file:line and CUDA's own message on failure.
// Use after every runtime call, and after every kernel launch as VAE_CUDA_CHECK(cudaGetLastError()).
#include <cuda_runtime.h>

#include <string>

#include "common/error.h"

#define VAE_CUDA_CHECK(call)                                                                     \
  do {                                                                                           \
    const cudaError_t vae_cuda_status_ = (call);                                                 \
    if (vae_cuda_status_ != cudaSuccess)                                                         \
      throw ::vae::Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " #call ": " + \
                         cudaGetErrorName(vae_cuda_status_) + ": " + cudaGetErrorString(vae_cuda_status_)); \
  } while (0)
