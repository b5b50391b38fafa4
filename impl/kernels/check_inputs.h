#pragma once
// What every kernel family's check (gemm_check, conv/conv_check, batch_norm/batch_norm_check)
// feeds its kernels: seeded uniform inputs from the counter generator (one stream per tensor,
// so a tensor does not change when another one's size does) and NaN-filled outputs, so an
// element a kernel forgets to write fails the comparison.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/counter_rng.h"
#include "device/device.h"

namespace vae::kernels::check_inputs {

// n floats uniform in [lo, hi): element i of (seed, stream).
inline std::vector<float> uniform(std::size_t n, std::uint64_t seed, std::uint64_t stream, double lo, double hi) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = float(lo + (hi - lo) * counter_uniform(seed, stream, i));
  return v;
}

inline device::Array<float> nan_array(const device::Stream& s, std::size_t n) {
  return device::to_device(s, std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()));
}

}  // namespace vae::kernels::check_inputs
