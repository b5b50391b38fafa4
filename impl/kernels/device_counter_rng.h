#pragma once
// The project's counter RNG (common/counter_rng.h) in kernel code: the same formulas, so a
// kernel draws exactly what the host draws for (seed, stream, index). Include after
// kernels/kernel_lang.h. splitmix64 itself is the host header's constexpr function (device
// code may call it: vae_kernels compiles with --expt-relaxed-constexpr); the three functions
// below restate counter_bits/uniform/normal because the host versions are not __device__.
// tests/test_data_kernels.cpp proves the draws equal to the host's.
//
// On a GPU, log and cos in double are CUDA's (within 1 and 2 ulp of the exact value, where
// glibc's are correctly rounded in nearly all cases), so a normal draw can differ from the
// host's in its last double bit; after rounding to float (what the kernels store) the two agree
// except where the double lies within an ulp of a float rounding boundary (~1e-8 of draws).
// uniform draws (binarization) involve only exact integer and power-of-two arithmetic and
// agree bit for bit everywhere.
#include <cstdint>

#include "common/counter_rng.h"

namespace vae::kernels {

__device__ __forceinline__ std::uint64_t device_counter_bits(std::uint64_t seed, std::uint64_t stream,
                                                             std::uint64_t index) {
  return ::vae::splitmix64(::vae::splitmix64(seed ^ ::vae::splitmix64(stream)) + index);
}

__device__ __forceinline__ double device_counter_uniform(std::uint64_t seed, std::uint64_t stream,
                                                         std::uint64_t index) {
  return static_cast<double>(device_counter_bits(seed, stream, index) >> 11) * 0x1.0p-53;
}

__device__ __forceinline__ double device_counter_normal(std::uint64_t seed, std::uint64_t stream,
                                                        std::uint64_t index) {
  const double u1 = 1.0 - device_counter_uniform(seed, stream, 2 * index);
  const double u2 = device_counter_uniform(seed, stream, 2 * index + 1);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

}  // namespace vae::kernels
