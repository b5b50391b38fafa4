#pragma once
// The subset of CUDA C++ our kernels use, for the host compiler, on the CPU executor
// (executor.h). Include only through kernels/kernel_lang.h, and only in kernel translation
// units: it defines CUDA's keywords and built-ins (threadIdx, __syncthreads, ...) as macros
// and functions in the global namespace, as the CUDA toolkit does.
//
// Supported, and nothing else (anything else fails to compile, or is a named KernelError):
//   __global__ __device__ __host__ __forceinline__ __launch_bounds__ __restrict__
//   static shared memory through VAE_SHARED(name, type) (below; a bare __shared__ does not compile)
//   threadIdx blockIdx blockDim gridDim warpSize dim3 uint3 float2 float4 uchar4
//   __syncthreads __syncwarp __shfl_sync __shfl_xor_sync __shfl_down_sync __shfl_up_sync
//     (4- and 8-byte arithmetic types) __ballot_sync __all_sync __any_sync
//   atomicAdd (int, unsigned, unsigned long long, float) atomicMax/atomicMin (int, unsigned)
//     atomicOr (unsigned) atomicCAS (int, unsigned, unsigned long long) atomicExch (int, unsigned)
//   __popc __ffs __clz __ldg rsqrtf __expf __logf __fdividef, and <cmath>'s float functions
//   nvcuda::wmma: m16n16k8 tf32 and m16n16k16 __nv_bfloat16 fragments (matrix_a, matrix_b
//     row/col major, float accumulator), fill_fragment, load_matrix_sync, store_matrix_sync,
//     mma_sync, __float_to_tf32
//   __nv_bfloat16 (cuda_bf16.h) as storage, __float2bfloat16 (round to nearest even), __bfloat162float
//   dynamic shared memory through vae::kernels::dynamic_shared<T>(count) (kernel_lang.h)
#if defined(__CUDACC__)
#error "cuda_emu.h is for the host compiler; nvcc compiles kernels for the GPU"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/bf16.h"
#include "emu/executor.h"

// --- Keywords ---------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
// Static shared memory: VAE_SHARED(tile, float[16][17]); declares `tile` in both builds (on
// the GPU as __shared__, kernels/kernel_lang.h). Here it is one instance per host thread = per
// running block (see executor.h), and the declaration tells the executor its size, so a block
// over CUDA's shared-memory limits (static alone, or static + dynamic) is a named KernelError
// as on the GPU it would be a failed launch. A bare __shared__ would hide the size from the
// executor, so it does not compile here.
namespace vae::emu {
template <class T>
using SharedType = T;  // lets an array type stand in the declarator's place: SharedType<float[4]> x;
}
#define VAE_SHARED(name, ...)                          \
  static thread_local ::vae::emu::SharedType<__VA_ARGS__> name; \
  ::vae::emu::note_static_shared(&name, sizeof(name))
#define __shared__ static_assert(false, "declare shared memory with VAE_SHARED(name, type) (emu/cuda_emu.h)");

using dim3 = ::vae::emu::Dim3;
using uint3 = ::vae::emu::Uint3;

struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(4) uchar4 {
  unsigned char x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// --- Built-in variables -------------------------------------------------------------------
#define threadIdx (::vae::emu::this_thread().thread_idx)
#define blockIdx (::vae::emu::this_thread().block_idx)
#define blockDim (::vae::emu::this_thread().block_dim)
#define gridDim (::vae::emu::this_thread().grid_dim)
#define warpSize 32

// --- Math: CUDA's global float functions are <cmath>'s --------------------------------------
using std::isfinite;
using std::isinf;
using std::isnan;
using std::max;
using std::min;
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}

// --- Barriers and warp collectives -----------------------------------------------------------
inline void __syncthreads() { ::vae::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::vae::emu::warp_collective(mask, "__syncwarp", 0); }

namespace vae::emu::detail {

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(std::is_arithmetic_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                "the CPU executor shuffles 4- and 8-byte arithmetic types only");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <class T>
inline T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}
// Lane to read for a shuffle; a lane outside the mask is a KernelError (undefined in CUDA).
unsigned shuffle_source(unsigned mask, unsigned lane, unsigned source, const char* name);

template <class T>
inline T shuffle(unsigned mask, T var, unsigned source_lane, const char* name) {
  const uint64_t* values = warp_collective(mask, name, to_bits(var));
  const unsigned lane = this_thread().lane;
  return from_bits<T>(values[shuffle_source(mask, lane, source_lane, name)]);
}
inline unsigned segment_start(int width) { return this_thread().lane & ~unsigned(width - 1); }

}  // namespace vae::emu::detail

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  using namespace vae::emu::detail;
  return shuffle(mask, var, segment_start(width) + (unsigned(src_lane) & unsigned(width - 1)), "__shfl_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  using namespace vae::emu::detail;
  const unsigned lane = vae::emu::this_thread().lane, target = lane ^ unsigned(lane_mask);
  const bool inside = target >= segment_start(width) && target < segment_start(width) + unsigned(width);
  return shuffle(mask, var, inside ? target : lane, "__shfl_xor_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  using namespace vae::emu::detail;
  const unsigned lane = vae::emu::this_thread().lane, target = lane + delta;
  return shuffle(mask, var, target < segment_start(width) + unsigned(width) ? target : lane, "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  using namespace vae::emu::detail;
  const unsigned lane = vae::emu::this_thread().lane;
  const bool inside = lane >= delta && lane - delta >= segment_start(width);
  return shuffle(mask, var, inside ? lane - delta : lane, "__shfl_up_sync");
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  const uint64_t* values = vae::emu::warp_collective(mask, "__ballot_sync", predicate != 0);
  unsigned bits = 0;
  for (unsigned l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && values[l]) bits |= 1u << l;
  return bits;
}
inline int __all_sync(unsigned mask, int predicate) {
  const uint64_t* values = vae::emu::warp_collective(mask, "__all_sync", predicate != 0);
  for (unsigned l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && !values[l]) return 0;
  return 1;
}
inline int __any_sync(unsigned mask, int predicate) {
  const uint64_t* values = vae::emu::warp_collective(mask, "__any_sync", predicate != 0);
  for (unsigned l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && values[l]) return 1;
  return 0;
}

// --- Atomics: real atomics, since blocks run on several host threads ---------------------------
#define VAE_EMU_INT_ATOMICS(T)                                                                           \
  inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }                  \
  inline T atomicCAS(T* p, T expected, T desired) {                                                     \
    __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);       \
    return expected;                                                                                    \
  }
VAE_EMU_INT_ATOMICS(int)
VAE_EMU_INT_ATOMICS(unsigned)
VAE_EMU_INT_ATOMICS(unsigned long long)
#undef VAE_EMU_INT_ATOMICS
#define VAE_EMU_MINMAX_ATOMICS(T)                                                                        \
  inline T atomicMax(T* p, T v) {                                                                       \
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                                      \
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) \
      ;                                                                                                 \
    return old;                                                                                         \
  }                                                                                                     \
  inline T atomicMin(T* p, T v) {                                                                       \
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);                                                      \
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) \
      ;                                                                                                 \
    return old;                                                                                         \
  }                                                                                                     \
  inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
VAE_EMU_MINMAX_ATOMICS(int)
VAE_EMU_MINMAX_ATOMICS(unsigned)
#undef VAE_EMU_MINMAX_ATOMICS
inline unsigned atomicOr(unsigned* p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }
// Float addition is not associative: our kernels never use this for results that must be
// reproducible (fixed-order reductions instead); it exists for counters and tests.
inline float atomicAdd(float* p, float v) {
  uint32_t old_bits = __atomic_load_n(reinterpret_cast<uint32_t*>(p), __ATOMIC_RELAXED);
  for (;;) {
    float old;
    std::memcpy(&old, &old_bits, 4);
    const float sum = old + v;
    uint32_t new_bits;
    std::memcpy(&new_bits, &sum, 4);
    if (__atomic_compare_exchange_n(reinterpret_cast<uint32_t*>(p), &old_bits, new_bits, true, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
      return old;
  }
}

// --- bfloat16 (cuda_bf16.h): storage and the two conversions --------------------------------
// The top 16 bits of a float. Only the conversions exist here (no arithmetic operators), so a
// kernel that would compute in bf16 does not compile for the executor.
struct __nv_bfloat16 {
  uint16_t bits;
};
// Round to nearest, ties to even, as cvt.rn.bf16.f32 (common/bf16.h).
inline __nv_bfloat16 __float2bfloat16(float x) { return {::vae::bf16_bits(x)}; }
inline float __bfloat162float(__nv_bfloat16 h) { return ::vae::bf16_value(h.bits); }

// --- Tensor cores: nvcuda::wmma, m16n16k8 tf32 / m16n16k16 bf16 inputs, fp32 accumulation ----
namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32 {};
}

// tf32 as the hardware conversion (cvt.rna.tf32.f32) makes it: round to nearest with ties
// away from zero, to a 10-bit mantissa, kept in a float whose low 13 bits are zero.
inline float __float_to_tf32(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;  // Inf/NaN kept
  std::memcpy(&x, &bits, 4);
  return x;
}

// Only m16n16k8 tf32 and m16n16k16 bf16 exist here; any other shape or type fails to compile.
template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment;

namespace detail {
// The emulator's element mapping (CUDA leaves it unspecified): element e of lane l holds the
// tile's element e*32 + l in row-major order.
template <int Rows, int Cols>
struct FragmentStorage {
  static constexpr int rows = Rows, cols = Cols, num_elements = Rows * Cols / 32;
  float x[num_elements];
};
void check_tile_pointer(const void* p, unsigned ldm, unsigned element_bytes, const char* what);
void mma_combine(const uint64_t* values_by_lane, unsigned mask);  // tf32, k = 8
void mma_combine_bf16(const uint64_t* values_by_lane, unsigned mask);  // bf16, k = 16
struct MmaOperands {
  const float *a, *b, *c;
  float* d;
};
}  // namespace detail

template <class Layout>
class fragment<matrix_a, 16, 16, 8, precision::tf32, Layout> : public detail::FragmentStorage<16, 8> {};
template <class Layout>
class fragment<matrix_b, 16, 16, 8, precision::tf32, Layout> : public detail::FragmentStorage<8, 16> {};
template <>
class fragment<accumulator, 16, 16, 8, float, void> : public detail::FragmentStorage<16, 16> {};
// bf16 operands are held as the floats they are exactly (CUDA's elements are __nv_bfloat16;
// our kernels never touch a bf16 fragment's elements, they load them from bf16 tiles).
template <class Layout>
class fragment<matrix_a, 16, 16, 16, __nv_bfloat16, Layout> : public detail::FragmentStorage<16, 16> {};
template <class Layout>
class fragment<matrix_b, 16, 16, 16, __nv_bfloat16, Layout> : public detail::FragmentStorage<16, 16> {};
template <>
class fragment<accumulator, 16, 16, 16, float, void> : public detail::FragmentStorage<16, 16> {};

template <class F>
inline void fill_fragment(F& f, float v) {
  for (int e = 0; e < F::num_elements; ++e) f.x[e] = v;
}

namespace detail {
inline float element_value(float v) { return v; }
inline float element_value(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class F, class T>
inline void load_tile(F& f, const T* p, unsigned ldm, bool row_major_memory) {
  check_tile_pointer(p, ldm, sizeof(T), "load_matrix_sync");
  const unsigned lane = ::vae::emu::this_thread().lane;
  for (int e = 0; e < F::num_elements; ++e) {
    const int i = e * 32 + int(lane), r = i / F::cols, c = i % F::cols;
    f.x[e] = element_value(row_major_memory ? p[size_t(r) * ldm + c] : p[size_t(c) * ldm + r]);
  }
}
template <class F>
inline void store_tile(float* p, const F& f, unsigned ldm, bool row_major_memory) {
  check_tile_pointer(p, ldm, 4, "store_matrix_sync");
  const unsigned lane = ::vae::emu::this_thread().lane;
  for (int e = 0; e < f.num_elements; ++e) {
    const int i = e * 32 + int(lane), r = i / 16, c = i % 16;
    (row_major_memory ? p[size_t(r) * ldm + c] : p[size_t(c) * ldm + r]) = f.x[e];
  }
}
inline void mma(const float* a, const float* b, const float* c, float* d, void (*combine)(const uint64_t*, unsigned)) {
  MmaOperands ops{a, b, c, d};
  uint64_t bits;
  const MmaOperands* p = &ops;
  std::memcpy(&bits, &p, sizeof p);
  ::vae::emu::warp_collective(0xffffffffu, "wmma::mma_sync", bits, combine);
}
}  // namespace detail

template <class Use, class Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 8, precision::tf32, Layout>& f, const float* p, unsigned ldm) {
  detail::load_tile(f, p, ldm, std::is_same_v<Layout, row_major>);
}
// The accumulators of both shapes (K = 8: tf32, K = 16: bf16; no other accumulator exists).
template <int K>
inline void load_matrix_sync(fragment<accumulator, 16, 16, K, float>& f, const float* p, unsigned ldm, layout_t layout) {
  detail::load_tile(f, p, ldm, layout == mem_row_major);
}
template <int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, K, float>& f, unsigned ldm, layout_t layout) {
  detail::store_tile(p, f, ldm, layout == mem_row_major);
}
// A warp collective: the last lane to arrive computes D = A*B + C for the whole warp, with
// A and B read as tf32 (their low 13 bits ignored, as the tensor cores do) and fp32 sums.
template <class LayoutA, class LayoutB>
inline void mma_sync(fragment<accumulator, 16, 16, 8, float>& d, const fragment<matrix_a, 16, 16, 8, precision::tf32, LayoutA>& a,
                     const fragment<matrix_b, 16, 16, 8, precision::tf32, LayoutB>& b,
                     const fragment<accumulator, 16, 16, 8, float>& c) {
  detail::mma(a.x, b.x, c.x, d.x, &detail::mma_combine);
}

// m16n16k16 with bf16 operands: loaded from __nv_bfloat16 memory (ldm a multiple of 8).
template <class Use, class Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p, unsigned ldm) {
  detail::load_tile(f, p, ldm, std::is_same_v<Layout, row_major>);
}
// D = A*B + C with bf16 A and B (products exact in fp32) and fp32 sums (warp_ops.cpp says in
// which order, and how far that is from the hardware's).
template <class LayoutA, class LayoutB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LayoutA>& a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LayoutB>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c) {
  detail::mma(a.x, b.x, c.x, d.x, &detail::mma_combine_bf16);
}

}  // namespace nvcuda::wmma
