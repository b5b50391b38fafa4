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

void check_tile_pointer(const void* p, unsigned ldm, unsigned element_bytes, const char* what) {
  // CUDA's rules for wmma loads and stores: a 256-bit aligned pointer, ldm a multiple of
  // 16 bytes (4 floats, 8 bf16). Breaking them is undefined on a GPU; here it is an error.
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    throw vae::emu::KernelError(vae::emu::describe_current_thread() + ": wmma::" + what +
                                " with a pointer that is not 32-byte aligned");
  if (ldm * element_bytes % 16 != 0)
    throw vae::emu::KernelError(vae::emu::describe_current_thread() + ": wmma::" + what + " with ldm " +
                                std::to_string(ldm) + ", not a multiple of " + std::to_string(16 / element_bytes) +
                                " elements (16 bytes)");
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

// D = A·B + C for a 16×16 tile of a warp, depth K, operands read through `operand` (the format's
// view of the stored float). Products of two tf32 or two bf16 values are exact in fp32 (at most
// 22 and 16 significant bits); the K products are summed in fp32, k in order, then added to C.
// The tensor cores' order and rounding of these sums are not documented (measurements find
// truncation and wider internal sums on some generations), so a GPU may differ from this in
// the last bits of each K-step: at most ~K·2^-24 of Σ|a·b| per step, which is 2^-24·K / 2^-8 =
// 1/16 of one bf16 operand rounding at K = 16 (tolerances.h counts twice fp32's u per add).
template <int K>
void mma_tile(const uint64_t* values_by_lane, float (*operand)(float)) {
  float a[16][K], b[K][16], acc[16][16];
  const MmaOperands* ops[32];
  for (unsigned l = 0; l < 32; ++l) std::memcpy(&ops[l], &values_by_lane[l], sizeof(ops[l]));
  for (unsigned l = 0; l < 32; ++l)
    for (int e = 0; e < 16 * K / 32; ++e) {
      const int i = e * 32 + int(l);
      a[i / K][i % K] = operand(ops[l]->a[e]);
      b[i / 16][i % 16] = operand(ops[l]->b[e]);
    }
  for (unsigned l = 0; l < 32; ++l)
    for (int e = 0; e < 8; ++e) {
      const int i = e * 32 + int(l);
      acc[i / 16][i % 16] = ops[l]->c[e];
    }
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      float s = 0.0f;
      for (int k = 0; k < K; ++k) s += a[r][k] * b[k][c];
      acc[r][c] += s;
    }
  for (unsigned l = 0; l < 32; ++l)
    for (int e = 0; e < 8; ++e) {
      const int i = e * 32 + int(l);
      ops[l]->d[e] = acc[i / 16][i % 16];
    }
}

float as_stored(float x) { return x; }  // bf16 fragments hold exact bf16 values already
}  // namespace

void mma_combine(const uint64_t* values_by_lane, unsigned mask) {
  (void)mask;  // always the full warp (mma_sync passes 0xffffffff)
  mma_tile<8>(values_by_lane, &tf32_bits);
}

void mma_combine_bf16(const uint64_t* values_by_lane, unsigned mask) {
  (void)mask;
  mma_tile<16>(values_by_lane, &as_stored);
}

}  // namespace nvcuda::wmma::detail
