#pragma once
// How a conv call becomes GEMM-shaped problems and how they are cut into blocks and slices:
// shared by the kernel file (both builds), the host-side workspace query and the judge, so
// they always agree. Plain constexpr C++ (no CUDA types); core_of is host-only.
#include <algorithm>
#include <cstddef>

#include "kernels/conv/conv.h"

namespace vae::kernels::conv::plan {

// The core convolution a[B, Ca, Ha, Wa] -> b[B, Cb, Hb, Wb], weight [Cb, Ca, k, k] (conv.h).
struct Core {
  int batch = 0, ca = 0, ha = 0, wa = 0, cb = 0, hb = 0, wb = 0, k = 1, s = 1, p = 0;
  constexpr long long a_size() const { return 1ll * batch * ca * ha * wa; }
  constexpr long long b_size() const { return 1ll * batch * cb * hb * wb; }
};

// conv2d: a = x, b = y. conv_transpose2d: a = y (Cout, Ho, Wo), b = x (Cin, H, W); its weight
// [Cin, Cout, k, k] is the core's [Cb, Ca, k, k] as it stands.
inline Core core_of(const ConvGeometry& g, int batch) {
  Core c;
  c.batch = batch, c.k = g.kernel, c.s = g.stride, c.p = g.padding;
  if (!g.transposed) {
    c.ca = g.in_channels, c.ha = g.in_h, c.wa = g.in_w;
    c.cb = g.out_channels, c.hb = g.out_h(), c.wb = g.out_w();
  } else {
    c.ca = g.out_channels, c.ha = g.out_h(), c.wa = g.out_w();
    c.cb = g.in_channels, c.hb = g.in_h, c.wb = g.in_w;
  }
  return c;
}

// A layer's outputs and the core direction that computes each (conv.h's table).
enum class Output { y, dx, dw };
constexpr Direction direction_of(bool transposed, Output o) {
  switch (o) {
    case Output::y: return transposed ? Direction::data_gradient : Direction::forward;
    case Output::dx: return transposed ? Direction::forward : Direction::data_gradient;
    case Output::dw: return Direction::weight_gradient;
  }
  return Direction::forward;
}

struct Dims {
  int rows = 0, cols = 0, depth = 0;
};
constexpr Dims dims(Direction d, const Core& c) {
  const int kk = c.k * c.k;
  switch (d) {
    case Direction::forward: return {c.batch * c.hb * c.wb, c.cb, c.ca * kk};
    case Direction::data_gradient: return {c.batch * c.ha * c.wa, c.ca, c.cb * kk};
    case Direction::weight_gradient: return {c.cb, c.ca * kk, c.batch * c.hb * c.wb};
  }
  return {};
}

// The bias gradient's sum per channel: over B × (the layer output's H·W).
constexpr int bias_length(bool transposed, const Core& c) {
  return transposed ? c.batch * c.ha * c.wa : c.batch * c.hb * c.wb;
}

// v3's block tile (64 × 64, 16 deep, 4 × 4 outputs per thread), as the GEMM family's.
inline constexpr int kBlockRows = 64, kBlockCols = 64, kBlockDepth = 16;
// Split the depth until about this many blocks are in flight: two waves on a 132-SM H100/H200.
// A constant, not the device's SM count, so the summation order is the same on every device.
inline constexpr int kTargetBlocks = 264;

struct Split {
  int slices = 1;       // depth slices (blockIdx.z)
  int slice_depth = 0;  // depth per slice, a multiple of kBlockDepth (the last may be shorter)
};

// Only v3 and v4 (the same block tile) split, and only where the output has too few blocks to
// fill a GPU: the weight gradient above all (Cb × Ca·k² is a few blocks, its depth B·Hb·Wb tens of thousands), but also
// a deep layer's forward at a small batch (conv-mnist's second at batch 128: 98 blocks).
constexpr Split split(Version v, const Dims& d) {
  Split s{1, d.depth};
  if ((v != Version::register_blocked && v != Version::tf32_wmma && v != Version::bf16_wmma) || d.depth <= 0)
    return s;
  const long long blocks = 1ll * ((d.rows + kBlockRows - 1) / kBlockRows) * ((d.cols + kBlockCols - 1) / kBlockCols);
  if (blocks >= kTargetBlocks) return s;
  const int wanted = int((kTargetBlocks + blocks - 1) / blocks);
  const int most = std::max(1, d.depth / (2 * kBlockDepth));  // at least two tiles of depth a slice
  const int slices = std::min(wanted, most);
  if (slices <= 1) return s;
  const int per = (d.depth + slices - 1) / slices;
  s.slice_depth = (per + kBlockDepth - 1) / kBlockDepth * kBlockDepth;
  s.slices = (d.depth + s.slice_depth - 1) / s.slice_depth;
  return s;
}

constexpr std::size_t partial_floats(const Split& s, const Dims& d) {
  return s.slices <= 1 ? 0 : std::size_t(s.slices) * std::size_t(d.rows) * std::size_t(d.cols);
}

// The bias gradient's block: each of kSumThreads threads adds a fixed strided subset of the
// channel's values in order, then a fixed tree adds the threads' sums (v2-v4; v1 adds the
// channel in one thread).
inline constexpr int kSumThreads = 256;

}  // namespace vae::kernels::conv::plan
