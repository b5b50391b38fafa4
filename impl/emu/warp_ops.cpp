// The CPU executor's side of the warp-level built-ins of cuda_emu.h: which lane a shuffle
// reads, and the tensor-core product wmma::mma_sync computes for a whole warp.
#include <cstring>
#include <string>

#include "emu/cuda_emu.h"

namespace vae::emu::detail {

unsigned shuffle_source(unsigned mask, unsigned lane, unsigned source, const char* name) {
  if (source >= kWarpSize || !(mask >> source & 1u))
    throw KernelError(describe_current_thread() + ": " + name + " in lane " + std::to_string(lane) +
                      " reads lane " + std::to_string(source) +
                      ", which is not in the mask (undefined on a GPU)");
  return source;
}

}  // namespace vae::emu::detail

namespace nvcuda::wmma::detail {

void check_tile_pointer(const void* p, unsigned ldm, const char* what) {
  // CUDA's rules for wmma loads and stores: a 256-bit aligned pointer, ldm a multiple of
  // 16 bytes (4 floats). Breaking them is undefined on a GPU; here it is an error.
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    throw vae::emu::KernelError(vae::emu::describe_current_thread() + ": wmma::" + what +
                                " with a pointer that is not 32-byte aligned");
  if (ldm % 4 != 0)
    throw vae::emu::KernelError(vae::emu::describe_current_thread() + ": wmma::" + what + " with ldm " +
                                std::to_string(ldm) + ", not a multiple of 4 floats (16 bytes)");
}

namespace {
// The tensor cores read only the top 19 bits of a tf32 operand (sign, exponent, 10-bit mantissa).
float tf32_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  b &= 0xffffe000u;
  std::memcpy(&x, &b, 4);
  return x;
}
}  // namespace

void mma_combine(const uint64_t* values_by_lane, unsigned mask) {
  (void)mask;  // always the full warp (mma_sync passes 0xffffffff)
  float a[16][8], b[8][16], acc[16][16];
  const MmaOperands* ops[32];
  for (unsigned l = 0; l < 32; ++l) std::memcpy(&ops[l], &values_by_lane[l], sizeof(ops[l]));
  for (unsigned l = 0; l < 32; ++l)
    for (int e = 0; e < 4; ++e) {
      const int i = e * 32 + int(l);
      a[i / 8][i % 8] = tf32_bits(ops[l]->a[e]);
      b[i / 16][i % 16] = tf32_bits(ops[l]->b[e]);
    }
  for (unsigned l = 0; l < 32; ++l)
    for (int e = 0; e < 8; ++e) {
      const int i = e * 32 + int(l);
      acc[i / 16][i % 16] = ops[l]->c[e];
    }
  // Products of two tf32 values are exact in fp32; the sums are rounded in fp32, k in order.
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      float s = 0.0f;
      for (int k = 0; k < 8; ++k) s += a[r][k] * b[k][c];
      acc[r][c] += s;
    }
  for (unsigned l = 0; l < 32; ++l)
    for (int e = 0; e < 8; ++e) {
      const int i = e * 32 + int(l);
      ops[l]->d[e] = acc[i / 16][i % 16];
    }
}

}  // namespace nvcuda::wmma::detail
