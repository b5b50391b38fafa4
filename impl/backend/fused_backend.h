#pragma once
// fused-cuda: the whole training step in our own kernels (impl/kernels: gemm, latent,
// likelihood, adam, data), on two devices:
//   cuda      the GPU (a build with CUDA and a CUDA device);
//   cuda-emu  the same kernels on the CPU executor (impl/emu). For validation: its times say
//             nothing about a GPU, and benchmarks never present them as throughput.
// No LibTorch: parameters, Adam's moments, activations and the running sums live in device
// memory (device/device.h); a training step is one captured graph replayed per batch.
#include "backend/registry.h"

namespace vae {

BackendInfo fused_backend_info();

}  // namespace vae
