#pragma once
// Counter-based random numbers: every value is a pure function of (seed, stream, index),
// so parameters and noise are reproducible bit for bit on any platform, in any order,
// and easy to regenerate from Python (see scripts/vae_reference.py).
//
//   bits(seed, stream, i) = splitmix64(splitmix64(seed ^ splitmix64(stream)) + i)
//   uniform(seed, stream, i) = (bits >> 11) * 2^-53            in [0, 1)
//   normal(seed, stream, i)  = Box-Muller on uniforms (2i, 2i+1) of the same stream, cosine branch
//
// One definition for the host and the kernels: nvcc compiles these as __host__ __device__
// (kernels/data.cu draws the training noise and binarization on the GPU), the host compiler
// as plain functions (everything else, and the CPU executor's build of the kernels), so a
// kernel draws exactly what the host draws for (seed, stream, index); tests/test_data_kernels.cpp
// proves it. On a GPU, log and cos in double are CUDA's (within 1 and 2 ulp of the exact value,
// where glibc's are correctly rounded in nearly all cases), so a normal draw can differ from
// the host's in its last double bit; after rounding to float (what the kernels store) the two
// agree except where the double lies within an ulp of a float rounding boundary (~1e-8 of
// draws). Uniform draws involve only exact integer and power-of-two arithmetic and agree bit
// for bit everywhere.
#include <math.h>

#include <cstdint>

#if defined(__CUDACC__)
#define VAE_HOST_DEVICE __host__ __device__
#else
#define VAE_HOST_DEVICE
#endif

namespace vae {

VAE_HOST_DEVICE constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

VAE_HOST_DEVICE inline uint64_t counter_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  return splitmix64(splitmix64(seed ^ splitmix64(stream)) + index);
}

VAE_HOST_DEVICE inline double counter_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<double>(counter_bits(seed, stream, index) >> 11) * 0x1.0p-53;
}

VAE_HOST_DEVICE inline double counter_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  // 1 - u keeps the log argument in (0, 1]. The C library's double functions (math.h), which
  // CUDA provides in device code under the same names.
  const double u1 = 1.0 - counter_uniform(seed, stream, 2 * index);
  const double u2 = counter_uniform(seed, stream, 2 * index + 1);
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586476925 * u2);
}

// Named streams, so that parameter init, validation noise and inputs never share draws.
enum RngStream : uint64_t {
  kStreamParamsBase = 1000,   // + tensor index
  kStreamSyntheticX = 2,      // synthetic inputs in tests
  kStreamIwEps = 3,           // importance-sampling noise
  kStreamSyntheticTrain = 4,  // synthetic training images (benchmarks of models without their dataset)
  kStreamSyntheticTest = 5,   // and their test images
  kStreamFdEntriesBase = 7000,    // + tensor index: which entries a finite-difference check samples
  kStreamFdDirectionBase = 8000,  // + tensor index: its random direction
  kStreamBinarizeBase = 1ull << 40,  // + epoch: pixel binarization draws
  kStreamShuffleBase = 1ull << 41,   // + epoch: the order of training images
  kStreamEpsStepBase = 1ull << 42,   // + step: noise eps[K,B,Z] of that step (model/noise.h)
};

}  // namespace vae
