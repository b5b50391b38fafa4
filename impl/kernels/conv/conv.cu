// The conv family: conv2d and conv_transpose2d, forward and backward (interface and semantics:
// kernels/conv/conv.h). One source for the GPU (nvcc) and the CPU executor (conv_emu.cpp
// includes this file); the tool, the tests and the backend all call these kernels.
//
// Every call is one to three implicit GEMMs out[i,j] = Σ_p A(i,p)·B(j,p) over the core
// convolution (conv_plan.h: a[B,Ca,Ha,Wa] -> b[B,Cb,Hb,Wb], weight [Cb,Ca,k,k]), plus the bias
// gradient's per-channel sums. The operands are never materialised: load_a / load_b map
// (i, p) to a tensor element per direction (zero for taps in the padding or, in the data
// gradient, off the stride grid), through `read` (floats, bytes / 255, or the backward
// prologue G = dY ⊙ act'(Y)); results leave through `finish` (bias + activation) into NCHW.
//
// Versions (conv::Version), each against the one before:
//   v1 direct            one thread per output, the sum over p in order from global memory;
//                        the bias gradient one thread per channel. The judge on the device.
//   v2 shared-tiles      16×16 tiles of A and B staged in shared memory (the im2col gather
//                        done once per tile element), one output per thread; the bias gradient
//                        one block per channel, a fixed tree over 256 threads' strided sums.
//   v3 register-blocked  64×64 block tile, 16 deep; each of 256 threads keeps 4×4 outputs in
//                        registers. Where the output has too few blocks (the weight gradient:
//                        Cb × Ca·k² is a handful, its depth B·Hb·Wb tens of thousands) the depth
//                        is cut into slices (blockIdx.z) whose partial sums a second pass adds
//                        in slice order. No atomics.
//   v4 tf32-wmma         v3's tiles and split with the products on tensor cores (nvcuda::wmma
//                        m16n16k8, tf32 operands, fp32 sums): four warps of 32×32 outputs, the
//                        accumulators staged in shared memory for the epilogue.
//   v5 bf16-wmma         v4 with bf16 operands: the gathered tiles stored in shared memory as
//                        bf16 (rounded to nearest even, half v4's tile bytes), m16n16k16
//                        fragments, fp32 sums and epilogue (autocast's recipe).
// v3-v5 also take the likelihood epilogue (conv.h): the output layer's NLL, dL/dO and
// per-block image sums (conv_nll_layout.h), so the logits never reach memory. Every version
// takes batch norm in evaluation in `finish` (conv.h: EvalBatchNormEpilogue).
//
// Check a version without a GPU:  vaebench-kernels check --family conv --device cuda-emu
//                                 ctest -R ConvKernels   (tests/test_conv_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h: conv_targets.h declares vae::kernels::{emu,cuda}, which would hide vae::emu
// from launch.h's `emu::` names.
#include "kernels/activation_math.h"
#include "kernels/batch_norm/batch_norm_math.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/conv_nll_layout.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/conv/conv_targets.h"
#include "kernels/likelihood_math.h"
#include "kernels/tensor_core_formats.h"

namespace vae::kernels::VAE_KERNEL_TARGET::conv {

using ::vae::kernels::conv::Activation;
using ::vae::kernels::conv::BackwardArgs;
using ::vae::kernels::conv::Direction;
using ::vae::kernels::conv::EvalBatchNormEpilogue;
using ::vae::kernels::conv::ForwardArgs;
using ::vae::kernels::conv::LikelihoodEpilogue;
using ::vae::kernels::conv::NllLayout;
using ::vae::kernels::conv::Version;
namespace plan = ::vae::kernels::conv::plan;
namespace act = activation_math;

namespace {

// One tensor as an operand reads it: floats, bytes / 255, or (with act_output) the prologue.
struct Source {
  const float* values = nullptr;
  const unsigned char* bytes = nullptr;
  const float* act_output = nullptr;
  Activation act = Activation::identity;
};

__device__ __forceinline__ float read(const Source& t, long long at) {
  if (t.bytes) return float(t.bytes[at]) / 255.0f;
  const float v = t.values[at];
  return t.act_output ? act::prologue(t.act, v, t.act_output[at]) : v;
}

struct Problem {
  plan::Core c;
  Source a;                    // forward: the core's a; data / weight gradient: the gradient of b
  Source b;                    // forward / data gradient: the weight; weight gradient: the core's a
  int rows = 0, cols = 0, depth = 0;
  const float* bias = nullptr; // finish: out = act(sum + bias[j])
  Activation act = Activation::identity;
  float* out = nullptr;
  int slices = 1, slice_depth = 0;
  float* partials = nullptr;   // slices > 1: [slices][rows·cols]
  bool has_likelihood = false; // the output layer's epilogue (conv.h): never split
  LikelihoodEpilogue likelihood;
  NllLayout nll;               // images K·B of rows / images pixels each, cols channels
  bool has_eval_batch_norm = false;  // batch norm in evaluation after the bias (conv.h)
  EvalBatchNormEpilogue batch_norm;
};

// A(i, p) of direction D (conv.h's table; conv_plan.h's dims).
template <Direction D>
__device__ __forceinline__ float load_a(const Problem& pb, int i, int p) {
  const plan::Core& c = pb.c;
  const int kk = c.k * c.k;
  if (D == Direction::forward) {  // i = (n, oh, ow), p = (ca, kh, kw): a at the tap
    const int hw = c.hb * c.wb, n = i / hw, oh = i % hw / c.wb, ow = i % c.wb;
    const int ca = p / kk, kh = p % kk / c.k, kw = p % c.k;
    const int ih = oh * c.s - c.p + kh, iw = ow * c.s - c.p + kw;
    if (ih < 0 || ih >= c.ha || iw < 0 || iw >= c.wa) return 0.0f;
    return read(pb.a, ((1ll * n * c.ca + ca) * c.ha + ih) * c.wa + iw);
  } else if (D == Direction::data_gradient) {  // i = (n, ih, iw), p = (cb, kh, kw): db where the tap lands
    const int hw = c.ha * c.wa, n = i / hw, ih = i % hw / c.wa, iw = i % c.wa;
    const int cb = p / kk, kh = p % kk / c.k, kw = p % c.k;
    const int th = ih + c.p - kh, tw = iw + c.p - kw;
    if (th < 0 || tw < 0 || th % c.s != 0 || tw % c.s != 0) return 0.0f;
    const int oh = th / c.s, ow = tw / c.s;
    if (oh >= c.hb || ow >= c.wb) return 0.0f;
    return read(pb.a, ((1ll * n * c.cb + cb) * c.hb + oh) * c.wb + ow);
  } else {  // weight gradient: i = cb, p = (n, oh, ow): db
    const int hw = c.hb * c.wb, n = p / hw;
    return read(pb.a, (1ll * n * c.cb + i) * hw + p % hw);
  }
}

// B(j, p) of direction D.
template <Direction D>
__device__ __forceinline__ float load_b(const Problem& pb, int j, int p) {
  const plan::Core& c = pb.c;
  const int kk = c.k * c.k;
  if (D == Direction::forward) return read(pb.b, 1ll * j * pb.depth + p);  // W[cb = j][ca, kh, kw = p]
  if (D == Direction::data_gradient) return read(pb.b, (1ll * (p / kk) * c.ca + j) * kk + p % kk);  // W[cb][ca = j][tap]
  // weight gradient: j = (ca, kh, kw), p = (n, oh, ow): a at the tap
  const int hw = c.hb * c.wb, n = p / hw, oh = p % hw / c.wb, ow = p % c.wb;
  const int ca = j / kk, kh = j % kk / c.k, kw = j % c.k;
  const int ih = oh * c.s - c.p + kh, iw = ow * c.s - c.p + kw;
  if (ih < 0 || ih >= c.ha || iw < 0 || iw >= c.wa) return 0.0f;
  return read(pb.b, ((1ll * n * c.ca + ca) * c.ha + ih) * c.wa + iw);
}

// Where output (i, j) lives: NCHW for forward and data gradient, [Cb][Ca·k²] for the weight's.
template <Direction D>
__device__ __forceinline__ long long out_index(const Problem& pb, int i, int j) {
  const plan::Core& c = pb.c;
  if (D == Direction::forward) {
    const int hw = c.hb * c.wb;
    return (1ll * (i / hw) * c.cb + j) * hw + i % hw;
  }
  if (D == Direction::data_gradient) {
    const int hw = c.ha * c.wa;
    return (1ll * (i / hw) * c.ca + j) * hw + i % hw;
  }
  return 1ll * i * pb.cols + j;
}

// The output of (i, j): act(sum + bias). With the likelihood epilogue the sum + bias is the
// logit o; dL/dO goes where o would, and the element's NLL is returned (0 otherwise).
template <Direction D>
__device__ __forceinline__ float finish(const Problem& pb, int i, int j, float sum) {
  if (pb.bias) sum += pb.bias[j];
  const long long at = out_index<D>(pb, i, j);
  if (pb.has_eval_batch_norm) {  // j is the output channel (forward directions only)
    const EvalBatchNormEpilogue& bn = pb.batch_norm;
    pb.out[at] = batch_norm_math::eval_normalize(bn.activation, sum, j, bn.gamma, bn.beta, bn.running_mean,
                                                 bn.running_var, bn.eps);
    return 0.0f;
  }
  if (!pb.has_likelihood) {
    pb.out[at] = act::activate(pb.act, sum);
    return 0.0f;
  }
  const LikelihoodEpilogue& e = pb.likelihood;
  const long long pixels = 1ll * pb.nll.channels * pb.nll.hw;
  const int image = pb.nll.image_of(i);  // k·B + b; the target is image b's
  const float x = likelihood_math::target(e.x, reinterpret_cast<const unsigned char*>(e.x_bytes),
                                          1ll * (image % e.batch) * pixels + (at - 1ll * image * pixels));
  float gradient;
  const float nll = likelihood_math::pixel_nll(e.likelihood, sum, x, float(e.samples), &gradient);
  if (e.write_gradient) pb.out[at] = gradient;
  return nll;
}

// One finished sum of a slice: a partial sum (split), or the output itself (and its NLL).
template <Direction D>
__device__ __forceinline__ float store_result(const Problem& pb, int slice, int i, int j, float sum) {
  if (pb.slices > 1) {
    pb.partials[slice * (1ll * pb.rows * pb.cols) + 1ll * i * pb.cols + j] = sum;
    return 0.0f;
  }
  return finish<D>(pb, i, j, sum);
}

// The likelihood epilogue's last step in a block of v3 / v4: thread s < slots adds the
// block's rows of its image (the s-th from the one holding the block's first row) in order,
// from row_total (each row's NLL over the block's columns), into block_nll.
__device__ __forceinline__ void store_image_sums(const Problem& pb, const float* row_total, int thread) {
  const NllLayout& l = pb.nll;
  if (thread >= l.slots()) return;  // after the block's last barrier
  const long long i0 = 1ll * blockIdx.x * NllLayout::kRows;
  const long long image = l.image_of(i0) + thread;
  const long long begin = max(image * l.hw, i0);
  const long long end = min(min((image + 1) * l.hw, i0 + NllLayout::kRows), (long long)pb.rows);
  float sum = 0.0f;
  for (long long r = begin; r < end; ++r) sum += row_total[r - i0];
  pb.likelihood.block_nll[l.index(int(blockIdx.y), int(blockIdx.x), thread)] = sum;
}

// --- v1: one thread per output ------------------------------------------------------------
// x along the rows (the output pixels: contiguous in NCHW, and grid.x has room for B·H·W).
template <Direction D>
__global__ void direct_kernel(Problem pb) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x), j = int(blockIdx.y * blockDim.y + threadIdx.y);
  if (i >= pb.rows || j >= pb.cols) return;  // no barrier in this kernel
  float sum = 0.0f;
  for (int p = 0; p < pb.depth; ++p) sum += load_a<D>(pb, i, p) * load_b<D>(pb, j, p);
  finish<D>(pb, i, j, sum);
}

// --- v2: shared-memory tiles ----------------------------------------------------------------
// Tiles are p-major ([p][outer]); +1 column so a warp's column reads hit distinct banks.
template <Direction D, int T>
__global__ void shared_tiles_kernel(Problem pb) {
  VAE_SHARED(a_tile, float[T][T + 1]);
  VAE_SHARED(b_tile, float[T][T + 1]);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int i0 = int(blockIdx.x) * T, j0 = int(blockIdx.y) * T;
  float sum = 0.0f;
  for (int p0 = 0; p0 < pb.depth; p0 += T) {
    const bool p_in = p0 + ty < pb.depth;
    a_tile[ty][tx] = p_in && i0 + tx < pb.rows ? load_a<D>(pb, i0 + tx, p0 + ty) : 0.0f;
    b_tile[ty][tx] = p_in && j0 + tx < pb.cols ? load_b<D>(pb, j0 + tx, p0 + ty) : 0.0f;
    __syncthreads();  // the tiles are complete
    for (int q = 0; q < T; ++q) sum += a_tile[q][tx] * b_tile[q][ty];
    __syncthreads();  // everyone has read them before the next loads
  }
  // Padding adds exact zeros, so the order of the real terms is p = 0, 1, 2, ...
  if (i0 + tx < pb.rows && j0 + ty < pb.cols) finish<D>(pb, i0 + tx, j0 + ty, sum);
}

// --- v3: register-blocked, split depth --------------------------------------------------------
constexpr int kRows = plan::kBlockRows, kCols = plan::kBlockCols, kDepth = plan::kBlockDepth;
constexpr int kThreadRows = 4, kThreadCols = 4;
constexpr int kBlockedThreads = (kRows / kThreadRows) * (kCols / kThreadCols);  // 256 as 16×16

template <int Outer>
struct alignas(16) Tile {  // p-major: v[p][r]; +4 keeps rows 16-byte aligned for float4 reads
  float v[kDepth][Outer + 4];
};

__device__ __forceinline__ int slice_begin(const Problem& pb) { return int(blockIdx.z) * pb.slice_depth; }
__device__ __forceinline__ int slice_end(const Problem& pb) { return min(pb.depth, slice_begin(pb) + pb.slice_depth); }

// v3's and v4's tile loads: A(i0 + r, p0 + q) into a_tile.v[q][r] and B(j0 + r, p0 + q) into
// b_tile.v[q][r] for the block's 64 rows / columns and 16 depths, zero past the edges. Each of
// `threads` threads gathers its share; consecutive threads take consecutive outer indices
// (neighbouring output pixels: neighbouring addresses).
template <Direction D, class TileA, class TileB>
__device__ __forceinline__ void gather_tiles(const Problem& pb, TileA& a_tile, TileB& b_tile, int i0, int j0, int p0,
                                             int p_end, int thread, int threads) {
  for (int e = thread; e < kRows * kDepth; e += threads) {
    const int r = e % kRows, q = e / kRows, i = i0 + r, p = p0 + q;
    put_element(a_tile.v[q][r], i < pb.rows && p < p_end ? load_a<D>(pb, i, p) : 0.0f);
  }
  for (int e = thread; e < kCols * kDepth; e += threads) {
    const int r = e % kCols, q = e / kCols, j = j0 + r, p = p0 + q;
    put_element(b_tile.v[q][r], j < pb.cols && p < p_end ? load_b<D>(pb, j, p) : 0.0f);
  }
}

template <Direction D>
__global__ void register_blocked_kernel(Problem pb) {
  VAE_SHARED(a_tile, Tile<kRows>);
  VAE_SHARED(b_tile, Tile<kCols>);
  VAE_SHARED(row_part, float[kRows][kCols / kThreadCols]);  // the likelihood epilogue's
  VAE_SHARED(row_total, float[kRows]);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y), thread = ty * int(blockDim.x) + tx;
  const int i0 = int(blockIdx.x) * kRows, j0 = int(blockIdx.y) * kCols;
  const int p_begin = slice_begin(pb), p_end = slice_end(pb);
  float sum[kThreadRows][kThreadCols] = {};
  for (int p0 = p_begin; p0 < p_end; p0 += kDepth) {
    gather_tiles<D>(pb, a_tile, b_tile, i0, j0, p0, p_end, thread, kBlockedThreads);
    __syncthreads();  // the tiles are complete
    for (int q = 0; q < kDepth; ++q) {
      const float4 a4 = *reinterpret_cast<const float4*>(&a_tile.v[q][tx * kThreadRows]);
      const float4 b4 = *reinterpret_cast<const float4*>(&b_tile.v[q][ty * kThreadCols]);
      const float a[4] = {a4.x, a4.y, a4.z, a4.w}, b[4] = {b4.x, b4.y, b4.z, b4.w};
      VAE_UNROLL
      for (int r = 0; r < kThreadRows; ++r)
        VAE_UNROLL
        for (int c = 0; c < kThreadCols; ++c) sum[r][c] += a[r] * b[c];
    }
    __syncthreads();  // everyone has read them before the next loads
  }
  // Unrolled, so sum[r][c] stays in registers (tests/kernel_resources checks for a stack frame).
  float row_nll[kThreadRows] = {};  // the likelihood epilogue: each row's 4 columns in order
  VAE_UNROLL
  for (int r = 0; r < kThreadRows; ++r)
    VAE_UNROLL
    for (int c = 0; c < kThreadCols; ++c) {
      const int i = i0 + tx * kThreadRows + r, j = j0 + ty * kThreadCols + c;
      if (i < pb.rows && j < pb.cols) row_nll[r] += store_result<D>(pb, int(blockIdx.z), i, j, sum[r][c]);
    }
  if (!pb.has_likelihood) return;  // the same for every thread of the block
  VAE_UNROLL
  for (int r = 0; r < kThreadRows; ++r) row_part[tx * kThreadRows + r][ty] = row_nll[r];
  __syncthreads();  // every thread's row sums are in place
  if (thread < kRows) {
    float total = 0.0f;
    for (int q = 0; q < kCols / kThreadCols; ++q) total += row_part[thread][q];
    row_total[thread] = total;
  }
  __syncthreads();  // the block's row totals are complete
  store_image_sums(pb, &row_total[0], thread);
}

// --- v4, v5: tensor cores (wmma m16n16k8 tf32, m16n16k16 bf16: tensor_core_formats.h) -------
// v3's block tile, depth and split with the products on tensor cores: four warps as 2×2, each
// owning 32×32 outputs = 2×2 accumulator fragments. The operands are gathered as in v3 into
// shared memory (fp32 for tf32, rounded as they enter the fragments; bf16 for bf16, rounded as
// they are stored), products exact in fp32, fp32 sums; the accumulators are staged in shared
// memory for the bounds-checked epilogue.
constexpr int kWmmaThreads = 128;
static_assert(kRows == 64 && kCols == 64 && kDepth % 16 == 0, "four warps of 32x32, whole k-steps of 8 and 16");

template <int Outer, class T>
struct alignas(32) WmmaTile {  // p-major: v[p][r]; +8 keeps rows 32-byte aligned for wmma (fp32, bf16)
  static constexpr int ld = Outer + 8;
  T v[kDepth][Outer + 8];
};

template <Direction D, class Format>
__global__ void wmma_kernel(Problem pb) {
  namespace wmma = nvcuda::wmma;
  constexpr int K = Format::k;
  using TileA = WmmaTile<kRows, typename Format::Element>;
  using TileB = WmmaTile<kCols, typename Format::Element>;
  struct alignas(32) Staging {
    float v[kRows][kCols + 8];
  };
  VAE_SHARED(a_tile, TileA);
  VAE_SHARED(b_tile, TileB);
  VAE_SHARED(out_tile, Staging);
  VAE_SHARED(row_total, float[kRows]);  // the likelihood epilogue's
  const int thread = int(threadIdx.x), warp = thread / 32;
  const int warp_row = warp / 2 * 32, warp_col = warp % 2 * 32;
  const int i0 = int(blockIdx.x) * kRows, j0 = int(blockIdx.y) * kCols;
  const int p_begin = slice_begin(pb), p_end = slice_end(pb);
  wmma::fragment<wmma::accumulator, 16, 16, K, float> acc[2][2];
  for (int fi = 0; fi < 2; ++fi)
    for (int fj = 0; fj < 2; ++fj) wmma::fill_fragment(acc[fi][fj], 0.0f);
  for (int p0 = p_begin; p0 < p_end; p0 += kDepth) {
    gather_tiles<D>(pb, a_tile, b_tile, i0, j0, p0, p_end, thread, kWmmaThreads);
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
    __syncthreads();  // everyone has read them before the next loads
  }
  for (int fi = 0; fi < 2; ++fi)
    for (int fj = 0; fj < 2; ++fj)
      wmma::store_matrix_sync(&out_tile.v[warp_row + fi * 16][warp_col + fj * 16], acc[fi][fj], kCols + 8,
                              wmma::mem_row_major);
  __syncthreads();  // the staged block is complete
  // Consecutive threads take consecutive rows (output pixels: neighbouring NCHW addresses).
  for (int e = thread; e < kRows * kCols; e += kWmmaThreads) {
    const int r = e % kRows, c = e / kRows, i = i0 + r, j = j0 + c;
    float& staged = out_tile.v[r][c];
    const float nll = i < pb.rows && j < pb.cols ? store_result<D>(pb, int(blockIdx.z), i, j, staged) : 0.0f;
    staged = nll;  // read above by this thread only: the stage now holds the NLL
  }
  if (!pb.has_likelihood) return;  // the same for every thread of the block
  __syncthreads();  // the stage holds every NLL of the block
  if (thread < kRows) {
    float total = 0.0f;
    for (int c = 0; c < kCols; ++c) total += out_tile.v[thread][c];
    row_total[thread] = total;
  }
  __syncthreads();  // the block's row totals are complete
  store_image_sums(pb, &row_total[0], thread);
}

// The split's second pass: slices added in order, then finish.
template <Direction D>
__global__ void sum_slices_kernel(Problem pb) {
  const long long outputs = 1ll * pb.rows * pb.cols;
  const long long e = 1ll * blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= outputs) return;
  float sum = 0.0f;
  for (int s = 0; s < pb.slices; ++s) sum += pb.partials[s * outputs + e];
  finish<D>(pb, int(e / pb.cols), int(e % pb.cols), sum);
}

// --- The bias gradient: db[c] = Σ_{n, hw} G[n, c, hw] ------------------------------------------
struct ChannelSums {
  Source g;
  int batch = 0, channels = 0, hw = 0;
  float* sums = nullptr;
};

// v1: one thread per channel, n then hw in order.
__global__ void channel_sums_direct_kernel(ChannelSums cs) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= cs.channels) return;
  float sum = 0.0f;
  for (int n = 0; n < cs.batch; ++n)
    for (int q = 0; q < cs.hw; ++q) sum += read(cs.g, (1ll * n * cs.channels + c) * cs.hw + q);
  cs.sums[c] = sum;
}

// v2, v3: one block per channel; thread t adds elements t, t + 256, ... of the channel (in
// (n, hw) order) in order, then a fixed tree adds the 256 sums.
__global__ void channel_sums_tree_kernel(ChannelSums cs) {
  constexpr int kThreads = plan::kSumThreads;
  VAE_SHARED(partial, float[kThreads]);
  const int c = int(blockIdx.x), t = int(threadIdx.x);
  const long long count = 1ll * cs.batch * cs.hw;
  float sum = 0.0f;
  for (long long e = t; e < count; e += kThreads)
    sum += read(cs.g, (e / cs.hw * cs.channels + c) * cs.hw + e % cs.hw);
  partial[t] = sum;
  __syncthreads();  // every thread's sum is in place
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();  // this level is complete before the next reads it
  }
  if (t == 0) cs.sums[c] = partial[0];
}

unsigned blocks_for(long long n, int per_block) { return unsigned((n + per_block - 1) / per_block); }

template <Direction D>
void run(const device::Stream& stream, Version v, Problem pb) {
  // The likelihood epilogue sums whole block tiles: never split.
  const plan::Split split = pb.has_likelihood ? plan::Split{1, pb.depth}
                                              : plan::split(v, plan::Dims{pb.rows, pb.cols, pb.depth});
  pb.slices = split.slices;
  pb.slice_depth = split.slice_depth;
  // Configurations are named first: VAE_LAUNCH is a macro, and braces do not protect commas.
  const LaunchConfig per_output{dim3(blocks_for(pb.rows, 16), blocks_for(pb.cols, 16)), dim3(16, 16)};
  const LaunchConfig blocked{dim3(blocks_for(pb.rows, kRows), blocks_for(pb.cols, kCols), unsigned(split.slices)),
                             dim3(kRows / kThreadRows, kCols / kThreadCols)};
  const LaunchConfig wmma_tiles{blocked.grid, dim3(kWmmaThreads)};
  switch (v) {
    case Version::direct: VAE_LAUNCH((direct_kernel<D>), stream, per_output, pb); break;
    case Version::shared_tiles: VAE_LAUNCH((shared_tiles_kernel<D, 16>), stream, per_output, pb); break;
    case Version::register_blocked: VAE_LAUNCH((register_blocked_kernel<D>), stream, blocked, pb); break;
    case Version::tf32_wmma: VAE_LAUNCH((wmma_kernel<D, Tf32Operands>), stream, wmma_tiles, pb); break;
    case Version::bf16_wmma: VAE_LAUNCH((wmma_kernel<D, Bf16Operands>), stream, wmma_tiles, pb); break;
  }
  if (pb.slices > 1) {
    const LaunchConfig per_sum{dim3(blocks_for(1ll * pb.rows * pb.cols, 256)), dim3(256)};
    VAE_LAUNCH((sum_slices_kernel<D>), stream, per_sum, pb);
  }
}

void run(const device::Stream& stream, Version v, Direction d, const Problem& pb) {
  switch (d) {
    case Direction::forward: run<Direction::forward>(stream, v, pb); break;
    case Direction::data_gradient: run<Direction::data_gradient>(stream, v, pb); break;
    case Direction::weight_gradient: run<Direction::weight_gradient>(stream, v, pb); break;
  }
}

Problem problem(Direction d, const plan::Core& c, const Source& a, const Source& b, float* out, float* workspace) {
  Problem pb;
  pb.c = c;
  pb.a = a, pb.b = b;
  const plan::Dims dims = plan::dims(d, c);
  pb.rows = dims.rows, pb.cols = dims.cols, pb.depth = dims.depth;
  pb.out = out;
  pb.partials = workspace;
  return pb;
}

Source values(const float* v) {
  Source s;
  s.values = v;
  return s;
}

Source input(const float* x, const std::uint8_t* bytes) {
  Source s;
  if (bytes) s.bytes = reinterpret_cast<const unsigned char*>(bytes);
  else s.values = x;
  return s;
}

Source gradient(const BackwardArgs& g) {
  Source s = values(g.dy);
  s.act_output = g.activation == Activation::identity ? nullptr : g.y;
  s.act = g.activation;
  return s;
}

}  // namespace

void forward(const device::Stream& stream, Version v, const ForwardArgs& f) {
  const plan::Core c = plan::core_of(f.geometry, f.batch);
  const Direction d = plan::direction_of(f.geometry.transposed, plan::Output::y);
  Problem pb = problem(d, c, input(f.x, f.x_bytes), values(f.weight), f.y, f.workspace);
  pb.bias = f.bias;
  pb.act = f.activation;
  if (f.eval_batch_norm) {
    pb.has_eval_batch_norm = true;
    pb.batch_norm = *f.eval_batch_norm;
  }
  if (f.likelihood) {
    pb.has_likelihood = true;
    pb.likelihood = *f.likelihood;
    pb.nll = NllLayout{f.batch, pb.rows / f.batch, pb.cols};
  }
  run(stream, v, d, pb);
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& g) {
  const bool transposed = g.geometry.transposed;
  const plan::Core c = plan::core_of(g.geometry, g.batch);
  const Source grad = gradient(g), x = input(g.x, g.x_bytes);
  // The stream runs the problems in order, so one workspace serves them all.
  if (g.dx) {
    const Direction d = plan::direction_of(transposed, plan::Output::dx);
    run(stream, v, d, problem(d, c, grad, values(g.weight), g.dx, g.workspace));
  }
  // dW: the core's db is G (conv2d) or x (transposed), its a the other.
  run(stream, v, Direction::weight_gradient,
      problem(Direction::weight_gradient, c, transposed ? x : grad, transposed ? grad : x, g.dw, g.workspace));
  if (g.db) {
    ChannelSums cs;
    cs.g = grad;
    cs.batch = g.batch, cs.channels = g.geometry.out_channels;
    cs.hw = transposed ? c.ha * c.wa : c.hb * c.wb;
    cs.sums = g.db;
    const LaunchConfig per_channel_thread{dim3(blocks_for(cs.channels, 64)), dim3(64)};
    const LaunchConfig per_channel_block{dim3(unsigned(cs.channels)), dim3(plan::kSumThreads)};
    if (v == Version::direct) VAE_LAUNCH(channel_sums_direct_kernel, stream, per_channel_thread, cs);
    else VAE_LAUNCH(channel_sums_tree_kernel, stream, per_channel_block, cs);
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::conv
