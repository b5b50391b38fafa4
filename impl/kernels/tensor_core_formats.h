#pragma once
// The operand formats of the tensor-core (wmma) versions of the GEMM and conv families, as
// policies of one kernel template each (include after kernel_lang.h):
//   Tf32Operands  fp32 tiles in shared memory, m16n16k8 fragments, each element rounded to
//                 tf32 (round to nearest) as it enters a fragment.
//   Bf16Operands  bf16 tiles in shared memory (rounded to nearest even once, as they are
//                 stored: half the bytes of an fp32 tile), m16n16k16 fragments loaded as they are.
// Both: products exact in fp32, fp32 accumulators, everything after the products in fp32.
#include "kernels/kernel_lang.h"

namespace vae::kernels::VAE_KERNEL_TARGET {

// A tile element from the float an operand load produced, and back.
__device__ __forceinline__ void put_element(float& slot, float v) { slot = v; }
__device__ __forceinline__ void put_element(__nv_bfloat16& slot, float v) { slot = __float2bfloat16(v); }
__device__ __forceinline__ float element_value(float v) { return v; }
__device__ __forceinline__ float element_value(__nv_bfloat16 v) { return __bfloat162float(v); }

struct Tf32Operands {
  using Element = float;                               // of the shared-memory tiles
  using FragmentType = nvcuda::wmma::precision::tf32;  // of matrix_a / matrix_b
  static constexpr int k = 8;                          // the fragments' depth
  template <class Fragment>
  __device__ static __forceinline__ void round(Fragment& f) {
    for (int e = 0; e < f.num_elements; ++e) f.x[e] = nvcuda::wmma::__float_to_tf32(f.x[e]);
  }
};

struct Bf16Operands {
  using Element = __nv_bfloat16;
  using FragmentType = __nv_bfloat16;
  static constexpr int k = 16;
  template <class Fragment>
  __device__ static __forceinline__ void round(Fragment&) {}  // rounded when the tile was stored
};

}  // namespace vae::kernels::VAE_KERNEL_TARGET
