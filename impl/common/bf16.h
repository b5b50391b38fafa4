#pragma once
// bfloat16 on the host: the one rounding every host-side bf16 value goes through (the CPU
// executor's __float2bfloat16, the benchmark's cuBLAS operands, the tests' expected values).
// Round to nearest, ties to even, as cvt.rn.bf16.f32; a NaN stays a quiet NaN.
#include <cstdint>
#include <cstring>

namespace vae {

inline std::uint16_t bf16_bits(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((b >> 16) | 0x40u);
  return std::uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

inline float bf16_value(std::uint16_t bits) {
  const std::uint32_t b = std::uint32_t(bits) << 16;
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

// x rounded to the nearest bf16, as a float.
inline float round_to_bf16(float x) { return bf16_value(bf16_bits(x)); }

}  // namespace vae
