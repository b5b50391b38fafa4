// The GEMM family: the VAE's dense layers, forward and backward (interface and semantics:
// kernels/gemm.h). One source for the GPU (nvcc) and the CPU executor (gemm_emu.cpp
// includes this file); the tool, the tests and the backend all call these kernels.
//
// Every call is one or two problems  out[i,j] = Σ_p a(i,p)·b(j,p)  (kernels/gemm_plan.h):
// forward Y = act(X·Wᵀ + b); dX = G·W; dW = Gᵀ·X with db = Σ_rows G fused as row sums of
// a = Gᵀ. Operands are read through `load` (floats, bytes / 255, or the backward prologue
// G = dY ⊙ act'(Y)), and results leave through `store_result` (bias + activation).
//
// Versions (gemm::Version), each against the one before:
//   v1 naive             one thread per output, every operand read from global memory.
//   v2 shared-tiles      16×16 tiles of a and b staged in shared memory, one output per thread.
//   v3 register-blocked  64×64 block tile, 16 deep; each of 256 threads keeps a 4×4 block of
//                        outputs in registers; tiles loaded as float4 where the operand's
//                        contiguous direction and alignment allow (scalar at ragged edges).
//   v4 split-k           v3's kernel with K cut into slices (blockIdx.z) when the output has
//                        too few blocks (batch 128: Y is 2×7 blocks); each slice writes its
//                        partial sums, a second pass adds them in slice order. No atomics.
//   v5 tf32-wmma         v4 with the inner product on tensor cores: nvcuda::wmma m16n16k8,
//                        operands rounded to tf32 (round-to-nearest) per fragment, fp32
//                        accumulation; ragged edges padded with zeros in shared memory, the
//                        accumulators staged through shared memory for the epilogue.
//   v6 bf16-wmma         v5 with bf16 operands: the tiles stored in shared memory as bf16
//                        (rounded to nearest even on the way in, half v5's tile bytes),
//                        m16n16k16 fragments, fp32 accumulation and everything after it in
//                        fp32 (autocast's recipe). The bias gradient sums the bf16 tile values.
//
// Epilogues of v3-v6 (gemm.h): `finish` turns a finished sum into the output (bias +
// activation), or into the likelihood's dL/dO and NLL; a 64-row block then adds the NLL of its
// rows per tile in a fixed order (v3/v4: each thread's 4 columns, then the 16 threads in order;
// v5, v6 and the split-K pass: the 64 columns in order), or computes its rows' z and KL from the H
// it has just written (the latent epilogue; a barrier makes those writes visible to the block).
//
// Check a version without a GPU:  vaebench-kernels check --device cuda-emu --version N
//                                 ctest -R Gemm   (tests/test_gemm_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h: gemm_targets.h declares vae::kernels::{emu,cuda}, which would hide
// vae::emu from launch.h's `emu::` names.
#include "kernels/activation_math.h"
#include "kernels/gemm.h"
#include "kernels/gemm_plan.h"
#include "kernels/gemm_targets.h"
#include "kernels/latent_math.h"
#include "kernels/likelihood_math.h"
#include "kernels/tensor_core_formats.h"

namespace vae::kernels::VAE_KERNEL_TARGET::gemm {

using ::vae::kernels::gemm::Activation;
using ::vae::kernels::gemm::BackwardArgs;
using ::vae::kernels::gemm::ForwardArgs;
using ::vae::kernels::gemm::LatentBackwardEpilogue;
using ::vae::kernels::gemm::LatentEpilogue;
using ::vae::kernels::gemm::LikelihoodEpilogue;
using ::vae::kernels::gemm::Version;
namespace plan = ::vae::kernels::gemm::plan;

namespace {

// a(r, p) of one operand: element r*stride_outer + p*stride_p of one of three sources.
struct Operand {
  const float* values = nullptr;          // floats, or
  const unsigned char* bytes = nullptr;   // bytes / 255
  const float* act_output = nullptr;      // with values = dY: the prologue dY ⊙ act'(Y)
  Activation act = Activation::identity;
  long long stride_outer = 0, stride_p = 0;
};

struct Problem {
  Operand a, b;
  int rows = 0, cols = 0, depth = 0;
  const float* bias = nullptr;            // epilogue: out = act(sum + bias[j])
  Activation act = Activation::identity;
  float* out = nullptr;                   // rows × cols, row-major
  float* row_sums = nullptr;              // or null: Σ_p a(i,p) per row (the bias gradient)
  int slices = 1, slice_depth = 0;        // split-K (gemm_plan.h)
  float* partials = nullptr;              // slices > 1: [slices][rows·cols], then [slices][rows]
  bool has_likelihood = false, has_latent = false, has_latent_backward = false;  // the epilogues (gemm.h)
  LikelihoodEpilogue likelihood;
  LatentEpilogue latent;
  LatentBackwardEpilogue latent_backward;
};

using activation_math::activate;
using activation_math::prologue;

__device__ __forceinline__ float load(const Operand& o, long long r, long long p) {
  const long long at = r * o.stride_outer + p * o.stride_p;
  if (o.bytes) return float(o.bytes[at]) / 255.0f;
  const float v = o.values[at];
  return o.act_output ? prologue(o.act, v, o.act_output[at]) : v;
}

// The latent backward epilogue (K = 1): dz[b, j] = sum becomes dmu and dlogvar
// (kernels/latent_math.h, as latent.cu v1). One thread reads and writes element (b, j) of both
// halves, so d_heads may be heads.
__device__ __forceinline__ void latent_gradient(const Problem& pb, long long b, int j, float dz) {
  const LatentBackwardEpilogue& e = pb.latent_backward;
  const int Z = pb.cols;
  const long long mu_at = 2ll * Z * b + j, logvar_at = mu_at + Z;
  const float beta_w = latent_math::kl_term_weight(e.beta, e.kl_weight);
  const float m = e.heads[mu_at], lv = e.heads[logvar_at];
  float dmu = 0.0f, dlogvar = 0.0f;
  latent_math::add_sample(dz, e.eps[b * Z + j], latent_math::half_sigma(lv), dmu, dlogvar);
  e.d_heads[mu_at] = latent_math::d_mu(dmu, beta_w, m);
  e.d_heads[logvar_at] = latent_math::d_logvar(dlogvar, beta_w, lv);
}

// A finished sum of output (i, j): bias, then the activation into out; or, with the likelihood
// epilogue, dL/dO into out (if asked) and the pixel's NLL returned (0 otherwise); or, with the
// latent backward epilogue, dH instead of out.
__device__ __forceinline__ float finish(const Problem& pb, long long i, int j, float sum) {
  if (pb.has_latent_backward) {
    latent_gradient(pb, i, j, sum);
    return 0.0f;
  }
  if (pb.bias) sum += pb.bias[j];
  const long long at = i * pb.cols + j;
  if (!pb.has_likelihood) {
    pb.out[at] = activate(pb.act, sum);
    return 0.0f;
  }
  const LikelihoodEpilogue& e = pb.likelihood;
  const long long image = i % e.batch;
  const float x = likelihood_math::target(e.x, reinterpret_cast<const unsigned char*>(e.x_bytes), image * pb.cols + j);
  float gradient;
  const float nll = likelihood_math::pixel_nll(e.likelihood, sum, x, float(e.samples), &gradient);
  if (e.write_gradient) pb.out[at] = gradient;
  return nll;
}

// One finished sum of a slice: a partial sum (split-K), or the output itself (finish).
__device__ __forceinline__ float store_result(const Problem& pb, int slice, int i, int j, float sum) {
  if (pb.slices > 1) {
    pb.partials[slice * (1ll * pb.rows * pb.cols) + 1ll * i * pb.cols + j] = sum;
    return 0.0f;
  }
  return finish(pb, i, j, sum);
}

// The latent epilogue for rows i0 .. i0+63 of H (already stored by this block, and visible
// after the caller's barrier): z for every sample and the KL per image (kernels/latent_math.h,
// in latent.cu v1's order).
__device__ void latent_rows(const Problem& pb, int i0, int thread, int threads) {
  const LatentEpilogue& e = pb.latent;
  const int Z = pb.cols / 2, B = pb.rows, rows = min(plan::kBlockRows, pb.rows - i0);
  for (int q = thread; q < rows * Z; q += threads) {
    const int b = i0 + q / Z, j = q % Z;
    const float* h = pb.out + 1ll * b * pb.cols;
    const float m = h[j], sigma = latent_math::sigma(h[Z + j]);
    for (int k = 0; k < e.samples; ++k) {
      const long long at = (1ll * k * B + b) * Z + j;
      e.z[at] = latent_math::reparameterize(m, sigma, e.eps[at]);
    }
  }
  if (e.kl && thread < rows) {
    const float* h = pb.out + 1ll * (i0 + thread) * pb.cols;
    float kl_terms = 0.0f;
    for (int j = 0; j < Z; ++j) kl_terms += latent_math::kl_term(h[j], h[Z + j]);
    e.kl[i0 + thread] = -0.5f * kl_terms;
  }
}

__device__ __forceinline__ void store_row_sum(const Problem& pb, int slice, int i, float sum) {
  if (pb.slices > 1)
    pb.partials[pb.slices * (1ll * pb.rows * pb.cols) + 1ll * slice * pb.rows + i] = sum;
  else
    pb.row_sums[i] = sum;
}

// --- v1: one thread per output ------------------------------------------------------------
__global__ void naive_kernel(Problem pb) {
  const int j = int(blockIdx.x * blockDim.x + threadIdx.x), i = int(blockIdx.y * blockDim.y + threadIdx.y);
  if (i >= pb.rows || j >= pb.cols) return;  // no barrier in this kernel
  float sum = 0.0f;
  for (int p = 0; p < pb.depth; ++p) sum += load(pb.a, i, p) * load(pb.b, j, p);
  store_result(pb, 0, i, j, sum);
  if (pb.row_sums && j == 0) {
    float row = 0.0f;
    for (int p = 0; p < pb.depth; ++p) row += load(pb.a, i, p);
    store_row_sum(pb, 0, i, row);
  }
}

// --- v2: shared-memory tiles ----------------------------------------------------------------
// Tiles are stored p-major ([p][outer]); +1 column so a warp's column reads hit distinct banks.
template <int T>
__global__ void shared_tiles_kernel(Problem pb) {
  VAE_SHARED(a_tile, float[T][T + 1]);
  VAE_SHARED(b_tile, float[T][T + 1]);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int i0 = int(blockIdx.y) * T, j0 = int(blockIdx.x) * T;
  const bool sums_rows = pb.row_sums && blockIdx.x == 0 && tx == 0;
  float sum = 0.0f, row = 0.0f;
  for (int p0 = 0; p0 < pb.depth; p0 += T) {
    const bool p_in = p0 + tx < pb.depth;
    a_tile[tx][ty] = p_in && i0 + ty < pb.rows ? load(pb.a, i0 + ty, p0 + tx) : 0.0f;
    b_tile[tx][ty] = p_in && j0 + ty < pb.cols ? load(pb.b, j0 + ty, p0 + tx) : 0.0f;
    __syncthreads();  // the tiles are complete
    for (int q = 0; q < T; ++q) sum += a_tile[q][ty] * b_tile[q][tx];
    if (sums_rows)
      for (int q = 0; q < T; ++q) row += a_tile[q][ty];
    __syncthreads();  // everyone has read them before the next loads
  }
  // Padding adds exact zeros, so the order of the real terms is p = 0, 1, 2, ...
  if (i0 + ty < pb.rows && j0 + tx < pb.cols) store_result(pb, 0, i0 + ty, j0 + tx, sum);
  if (sums_rows && i0 + ty < pb.rows) store_row_sum(pb, 0, i0 + ty, row);
}

// --- Tile loading for v3-v6 -----------------------------------------------------------------
template <int Rows, int Depth, class T = float>
struct alignas(32) Tile {  // p-major: v[p][r]; 32-byte rows for wmma (fp32 and bf16)
  static constexpr int ld = Rows + 8;
  T v[Depth][Rows + 8];
};

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<unsigned long long>(p) & 15u) == 0; }

// Loads a(outer_begin + r, p_begin + q) for r < Rows, q < Depth into tile.v[q][r], zero
// outside [.., outer_end) × [.., p_end). Groups of four along the operand's contiguous
// direction are one float4 read when in range and 16-byte aligned, four scalar reads
// otherwise (ragged edges, odd strides, bytes).
template <int Rows, int Depth, class T>
__device__ __forceinline__ void load_tile(const Operand& o, int outer_begin, int outer_end, int p_begin, int p_end,
                                          Tile<Rows, Depth, T>& tile, int thread, int threads) {
  const bool along_p = o.stride_p == 1 || o.stride_outer != 1;
  const int groups = Rows * Depth / 4;
  for (int g = thread; g < groups; g += threads) {
    const int r = along_p ? g / (Depth / 4) : g % (Rows / 4) * 4;
    const int q = along_p ? g % (Depth / 4) * 4 : g / (Rows / 4);
    const int dr = along_p ? 0 : 1, dq = along_p ? 1 : 0;
    const int R = outer_begin + r, P = p_begin + q;
    const long long at = R * o.stride_outer + P * o.stride_p;
    const bool in_range = along_p ? R < outer_end && P + 3 < p_end : R + 3 < outer_end && P < p_end;
    float v[4];
    if (o.values && in_range && (along_p ? o.stride_p == 1 : o.stride_outer == 1) && aligned16(o.values + at) &&
        (!o.act_output || aligned16(o.act_output + at))) {
      const float4 x = *reinterpret_cast<const float4*>(o.values + at);
      v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
      if (o.act_output) {
        const float4 y = *reinterpret_cast<const float4*>(o.act_output + at);
        v[0] = prologue(o.act, v[0], y.x), v[1] = prologue(o.act, v[1], y.y);
        v[2] = prologue(o.act, v[2], y.z), v[3] = prologue(o.act, v[3], y.w);
      }
    } else {
      for (int e = 0; e < 4; ++e)
        v[e] = R + e * dr < outer_end && P + e * dq < p_end ? load(o, R + e * dr, P + e * dq) : 0.0f;
    }
    for (int e = 0; e < 4; ++e) put_element(tile.v[q + e * dq][r + e * dr], v[e]);
  }
}

// The K-range of this block's slice.
__device__ __forceinline__ int slice_begin(const Problem& pb) { return int(blockIdx.z) * pb.slice_depth; }
__device__ __forceinline__ int slice_end(const Problem& pb) { return min(pb.depth, slice_begin(pb) + pb.slice_depth); }

// --- v3/v4: register-blocked, float4 loads; split-K when the launcher asks ---------------
constexpr int kRows = plan::kBlockRows, kCols = plan::kBlockCols, kDepth = plan::kBlockDepth;
constexpr int kThreadRows = 4, kThreadCols = 4;
constexpr int kBlockedThreads = (kRows / kThreadRows) * (kCols / kThreadCols);  // 256 as 16×16

__global__ void register_blocked_kernel(Problem pb) {
  VAE_SHARED(a_tile, Tile<kRows, kDepth>);
  VAE_SHARED(b_tile, Tile<kCols, kDepth>);
  VAE_SHARED(row_nll, float[kRows][kCols / kThreadCols + 1]);  // the likelihood epilogue's
  const int tx = int(threadIdx.x), ty = int(threadIdx.y), thread = ty * int(blockDim.x) + tx;
  const int i0 = int(blockIdx.y) * kRows, j0 = int(blockIdx.x) * kCols;
  const int p_begin = slice_begin(pb), p_end = slice_end(pb);
  const bool sums_rows = pb.row_sums && blockIdx.x == 0 && thread < kRows;
  float sum[kThreadRows][kThreadCols] = {};
  float row = 0.0f;
  for (int p0 = p_begin; p0 < p_end; p0 += kDepth) {
    load_tile(pb.a, i0, pb.rows, p0, p_end, a_tile, thread, kBlockedThreads);
    load_tile(pb.b, j0, pb.cols, p0, p_end, b_tile, thread, kBlockedThreads);
    __syncthreads();  // the tiles are complete
    for (int q = 0; q < kDepth; ++q) {
      const float4 a4 = *reinterpret_cast<const float4*>(&a_tile.v[q][ty * kThreadRows]);
      const float4 b4 = *reinterpret_cast<const float4*>(&b_tile.v[q][tx * kThreadCols]);
      const float a[4] = {a4.x, a4.y, a4.z, a4.w}, b[4] = {b4.x, b4.y, b4.z, b4.w};
      VAE_UNROLL
      for (int r = 0; r < kThreadRows; ++r)
        VAE_UNROLL
        for (int c = 0; c < kThreadCols; ++c) sum[r][c] += a[r] * b[c];
    }
    if (sums_rows)
      for (int q = 0; q < kDepth; ++q) row += a_tile.v[q][thread];
    __syncthreads();  // everyone has read them before the next loads
  }
  // Unrolled: sum[r][c] must stay in registers (a rolled loop indexing it would put the whole
  // array in local memory; ptxas showed a 64-byte stack frame). tests/kernel_resources checks it.
  VAE_UNROLL
  for (int r = 0; r < kThreadRows; ++r) {
    float nll = 0.0f;
    VAE_UNROLL
    for (int c = 0; c < kThreadCols; ++c) {
      const int i = i0 + ty * kThreadRows + r, j = j0 + tx * kThreadCols + c;
      if (i < pb.rows && j < pb.cols) nll += store_result(pb, int(blockIdx.z), i, j, sum[r][c]);
    }
    row_nll[ty * kThreadRows + r][tx] = nll;
  }
  if (sums_rows && i0 + thread < pb.rows) store_row_sum(pb, int(blockIdx.z), i0 + thread, row);
  if (pb.slices > 1) return;  // the epilogues run in the second pass
  if (pb.has_likelihood) {
    __syncthreads();  // every thread's row sums are in place
    if (thread < kRows && i0 + thread < pb.rows) {
      float nll = 0.0f;
      for (int q = 0; q < kCols / kThreadCols; ++q) nll += row_nll[thread][q];
      pb.likelihood.row_nll[blockIdx.x * (1ll * pb.rows) + i0 + thread] = nll;
    }
  }
  if (pb.has_latent) {
    __syncthreads();  // the block's rows of H are stored
    latent_rows(pb, i0, thread, kBlockedThreads);
  }
}

// --- v5, v6: tensor cores (wmma m16n16k8 tf32, m16n16k16 bf16: tensor_core_formats.h) ---------
// Four warps as 2×2, each owning 32×32 outputs = 2×2 accumulator fragments.
constexpr int kWmmaThreads = 128;
static_assert(kDepth % 16 == 0, "whole k-steps of both formats per tile");

template <class Format>
__global__ void wmma_kernel(Problem pb) {
  namespace wmma = nvcuda::wmma;
  constexpr int K = Format::k;
  using TileA = Tile<kRows, kDepth, typename Format::Element>;
  using TileB = Tile<kCols, kDepth, typename Format::Element>;
  struct alignas(32) Staging {  // the accumulators, row-major, for the bounds-checked epilogue
    float v[kRows][kCols + 8];
  };
  VAE_SHARED(a_tile, TileA);
  VAE_SHARED(b_tile, TileB);
  VAE_SHARED(out_tile, Staging);
  const int thread = int(threadIdx.x), warp = thread / 32;
  const int warp_row = warp / 2 * 32, warp_col = warp % 2 * 32;
  const int i0 = int(blockIdx.y) * kRows, j0 = int(blockIdx.x) * kCols;
  const int p_begin = slice_begin(pb), p_end = slice_end(pb);
  const bool sums_rows = pb.row_sums && blockIdx.x == 0 && thread < kRows;
  wmma::fragment<wmma::accumulator, 16, 16, K, float> acc[2][2];
  for (int fi = 0; fi < 2; ++fi)
    for (int fj = 0; fj < 2; ++fj) wmma::fill_fragment(acc[fi][fj], 0.0f);
  float row = 0.0f;
  for (int p0 = p_begin; p0 < p_end; p0 += kDepth) {
    load_tile(pb.a, i0, pb.rows, p0, p_end, a_tile, thread, kWmmaThreads);
    load_tile(pb.b, j0, pb.cols, p0, p_end, b_tile, thread, kWmmaThreads);
    __syncthreads();  // the tiles are complete
    for (int k = 0; k < kDepth; k += K) {
      // a_tile.v[p][i] is A (i × p) column-major; b_tile.v[p][j] is B (p × j) row-major.
      wmma::fragment<wmma::matrix_a, 16, 16, K, typename Format::FragmentType, wmma::col_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, K, typename Format::FragmentType, wmma::row_major> b[2];
      for (int f = 0; f < 2; ++f) {
        wmma::load_matrix_sync(a[f], &a_tile.v[k][warp_row + f * 16], TileA::ld);
        wmma::load_matrix_sync(b[f], &b_tile.v[k][warp_col + f * 16], TileB::ld);
        Format::round(a[f]);
        Format::round(b[f]);
      }
      for (int fi = 0; fi < 2; ++fi)
        for (int fj = 0; fj < 2; ++fj) wmma::mma_sync(acc[fi][fj], a[fi], b[fj], acc[fi][fj]);
    }
    // The bias gradient from the tile's values (tf32: the fp32 values, rounded only in the
    // fragments; bf16: the tile's bf16 values), summed in fp32.
    if (sums_rows)
      for (int q = 0; q < kDepth; ++q) row += element_value(a_tile.v[q][thread]);
    __syncthreads();  // everyone has read them before the next loads
  }
  for (int fi = 0; fi < 2; ++fi)
    for (int fj = 0; fj < 2; ++fj)
      wmma::store_matrix_sync(&out_tile.v[warp_row + fi * 16][warp_col + fj * 16], acc[fi][fj], kCols + 8,
                              wmma::mem_row_major);
  __syncthreads();  // the staged block is complete
  for (int e = thread; e < kRows * kCols; e += kWmmaThreads) {
    const int i = i0 + e / kCols, j = j0 + e % kCols;
    float& staged = out_tile.v[e / kCols][e % kCols];
    const float nll = i < pb.rows && j < pb.cols ? store_result(pb, int(blockIdx.z), i, j, staged) : 0.0f;
    staged = nll;  // read above by this thread only: the stage now holds the NLL
  }
  if (sums_rows && i0 + thread < pb.rows) store_row_sum(pb, int(blockIdx.z), i0 + thread, row);
  if (pb.slices > 1) return;  // the epilogues run in the second pass
  if (pb.has_likelihood) {
    __syncthreads();  // the stage holds every NLL of the block
    if (thread < kRows && i0 + thread < pb.rows) {
      float nll = 0.0f;
      for (int c = 0; c < kCols; ++c) nll += out_tile.v[thread][c];
      pb.likelihood.row_nll[blockIdx.x * (1ll * pb.rows) + i0 + thread] = nll;
    }
  }
  if (pb.has_latent) {
    __syncthreads();  // the block's rows of H are stored
    latent_rows(pb, i0, thread, kWmmaThreads);
  }
}

// --- Split-K's second pass: slices added in order, then the epilogue --------------------------
__device__ __forceinline__ float slice_sum(const Problem& pb, long long e) {
  const long long outputs = 1ll * pb.rows * pb.cols;
  float sum = 0.0f;
  for (int s = 0; s < pb.slices; ++s) sum += pb.partials[s * outputs + e];
  return sum;
}

__global__ void sum_slices_kernel(Problem pb) {
  const long long outputs = 1ll * pb.rows * pb.cols;
  const long long e = 1ll * blockIdx.x * blockDim.x + threadIdx.x;
  if (e < outputs) {
    finish(pb, e / pb.cols, int(e % pb.cols), slice_sum(pb, e));
  } else if (pb.row_sums && e < outputs + pb.rows) {
    const long long i = e - outputs;
    float sum = 0.0f;
    for (int s = 0; s < pb.slices; ++s) sum += pb.partials[pb.slices * outputs + s * pb.rows + i];
    pb.row_sums[i] = sum;
  }
}

// With the likelihood epilogue: block (tile, 4 rows), thread (column in the tile, row); the
// tile's 64 NLLs of a row added in column order, as in v5.
constexpr int kPassRows = 4;
__global__ void sum_slices_likelihood_kernel(Problem pb) {
  VAE_SHARED(nll, float[kPassRows][kCols]);
  const int c = int(threadIdx.x), r = int(threadIdx.y);
  const int i = int(blockIdx.y) * kPassRows + r, j = int(blockIdx.x) * kCols + c;
  const bool in = i < pb.rows && j < pb.cols;
  nll[r][c] = in ? finish(pb, i, j, slice_sum(pb, 1ll * i * pb.cols + j)) : 0.0f;
  __syncthreads();  // the rows' NLLs are in place
  if (c == 0 && i < pb.rows) {
    float sum = 0.0f;
    for (int q = 0; q < kCols; ++q) sum += nll[r][q];
    pb.likelihood.row_nll[blockIdx.x * (1ll * pb.rows) + i] = sum;
  }
}

// With the latent epilogue: block = 64 rows of H (2Z <= 64 columns), then latent_rows.
constexpr int kPassThreads = 256;
__global__ void sum_slices_latent_kernel(Problem pb) {
  const int thread = int(threadIdx.x), i0 = int(blockIdx.x) * kRows;
  const int rows = min(kRows, pb.rows - i0);
  for (int q = thread; q < rows * pb.cols; q += kPassThreads) {
    const long long e = 1ll * i0 * pb.cols + q;
    finish(pb, e / pb.cols, int(e % pb.cols), slice_sum(pb, e));
  }
  __syncthreads();  // the block's rows of H are stored
  latent_rows(pb, i0, thread, kPassThreads);
}

unsigned blocks_for(long long n, int per_block) { return unsigned((n + per_block - 1) / per_block); }

void run(const device::Stream& stream, Version v, Problem pb) {
  const plan::Split split = plan::split(v, pb.rows, pb.cols, pb.depth);
  pb.slices = split.slices;
  pb.slice_depth = split.slice_depth;
  // Configurations are named first: VAE_LAUNCH is a macro, and braces do not protect commas.
  const LaunchConfig per_output{dim3(blocks_for(pb.cols, 16), blocks_for(pb.rows, 16)), dim3(16, 16)};
  const dim3 tiles(blocks_for(pb.cols, kCols), blocks_for(pb.rows, kRows), unsigned(split.slices));
  const LaunchConfig blocked{tiles, dim3(kCols / kThreadCols, kRows / kThreadRows)};
  const LaunchConfig wmma_tiles{tiles, dim3(kWmmaThreads)};
  switch (v) {
    case Version::naive: VAE_LAUNCH(naive_kernel, stream, per_output, pb); break;
    case Version::shared_tiles: VAE_LAUNCH((shared_tiles_kernel<16>), stream, per_output, pb); break;
    case Version::register_blocked:
    case Version::split_k: VAE_LAUNCH(register_blocked_kernel, stream, blocked, pb); break;
    case Version::tf32_wmma: VAE_LAUNCH(wmma_kernel<Tf32Operands>, stream, wmma_tiles, pb); break;
    case Version::bf16_wmma: VAE_LAUNCH(wmma_kernel<Bf16Operands>, stream, wmma_tiles, pb); break;
  }
  if (pb.slices > 1) {
    const long long work = 1ll * pb.rows * pb.cols + (pb.row_sums ? pb.rows : 0);
    const LaunchConfig per_sum{dim3(blocks_for(work, 256)), dim3(256)};
    const LaunchConfig per_tile_rows{dim3(blocks_for(pb.cols, kCols), blocks_for(pb.rows, kPassRows)),
                                     dim3(kCols, kPassRows)};
    const LaunchConfig per_row_block{dim3(blocks_for(pb.rows, kRows)), dim3(kPassThreads)};
    if (pb.has_likelihood) VAE_LAUNCH(sum_slices_likelihood_kernel, stream, per_tile_rows, pb);
    else if (pb.has_latent) VAE_LAUNCH(sum_slices_latent_kernel, stream, per_row_block, pb);
    else VAE_LAUNCH(sum_slices_kernel, stream, per_sum, pb);
  }
}

Operand input(const float* x, const std::uint8_t* bytes, long long stride_outer, long long stride_p) {
  Operand o;
  o.values = x;
  o.bytes = reinterpret_cast<const unsigned char*>(bytes);
  if (bytes) o.values = nullptr;
  o.stride_outer = stride_outer;
  o.stride_p = stride_p;
  return o;
}

Operand gradient(const BackwardArgs& g, long long stride_outer, long long stride_p) {
  Operand o = input(g.dy, nullptr, stride_outer, stride_p);
  o.act_output = g.activation == Activation::identity ? nullptr : g.y;
  o.act = g.activation;
  return o;
}

}  // namespace

void forward(const device::Stream& stream, Version v, const ForwardArgs& f) {
  Problem pb;
  pb.a = input(f.x, f.x_bytes, f.in, 1);  // X[m, k]
  pb.b = input(f.weight, nullptr, f.in, 1);  // W[n, k]
  pb.rows = f.batch, pb.cols = f.out, pb.depth = f.in;
  pb.bias = f.bias;
  pb.act = f.activation;
  pb.out = f.y;
  pb.partials = f.workspace;
  if (f.likelihood) pb.has_likelihood = true, pb.likelihood = *f.likelihood;
  if (f.latent) pb.has_latent = true, pb.latent = *f.latent;
  run(stream, v, pb);
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& g) {
  if (g.dx || g.latent) {  // dX[m, k] = Σ_n G[m, n] W[n, k], or its latent epilogue
    Problem pb;
    pb.a = gradient(g, g.out, 1);
    pb.b = input(g.weight, nullptr, 1, g.in);
    pb.rows = g.batch, pb.cols = g.in, pb.depth = g.out;
    pb.out = g.dx;
    if (g.latent) pb.has_latent_backward = true, pb.latent_backward = *g.latent;
    pb.partials = g.workspace;
    run(stream, v, pb);
  }
  // dW[n, k] = Σ_m G[m, n] X[m, k], and db[n] = Σ_m G[m, n]. The same workspace serves
  // both problems: the stream runs them in order.
  Problem pb;
  pb.a = gradient(g, 1, g.out);
  pb.b = input(g.x, g.x_bytes, 1, g.in);
  pb.rows = g.out, pb.cols = g.in, pb.depth = g.batch;
  pb.out = g.dw;
  pb.row_sums = g.db;
  pb.partials = g.workspace;
  run(stream, v, pb);
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::gemm
