#pragma once
// Counter-based random numbers: every value is a pure function of (seed, stream, index),
// so parameters and noise are reproducible bit for bit on any platform, in any order,
// and easy to regenerate from Python (see scripts/vae_reference.py).
//
//   bits(seed, stream, i) = splitmix64(splitmix64(seed ^ splitmix64(stream)) + i)
//   uniform(seed, stream, i) = (bits >> 11) * 2^-53            in [0, 1)
//   normal(seed, stream, i)  = Box-Muller on uniforms (2i, 2i+1) of the same stream, cosine branch
#include <cmath>
#include <cstdint>

namespace vae {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t counter_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  return splitmix64(splitmix64(seed ^ splitmix64(stream)) + index);
}

inline double counter_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<double>(counter_bits(seed, stream, index) >> 11) * 0x1.0p-53;
}

inline double counter_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  // 1 - u keeps the log argument in (0, 1].
  const double u1 = 1.0 - counter_uniform(seed, stream, 2 * index);
  const double u2 = counter_uniform(seed, stream, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
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
