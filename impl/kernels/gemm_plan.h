#pragma once
// How a GEMM call is cut into blocks and K-slices: shared by the kernel file (both builds)
// and the host-side workspace query, so the two always agree. Plain constexpr C++.
//
// Every call is one or two problems of the form  out[i,j] = Σ_p a(i,p)·b(j,p):
//   forward   out = Y   (rows M, cols N, depth K)
//   dX        out = dX  (rows M, cols K, depth N)
//   dW        out = dW  (rows N, cols K, depth M), with db = row sums of a = Gᵀ
#include <algorithm>
#include <cstddef>

#include "kernels/gemm.h"

namespace vae::kernels::gemm::plan {

// The register-blocked and wmma block tile (v3-v6).
inline constexpr int kBlockRows = 64, kBlockCols = 64, kBlockDepth = 16;
// Split K until about this many blocks are in flight: two waves on a 132-SM H100/H200. A
// constant, not the device's SM count, so the summation order is the same on every device.
inline constexpr int kTargetBlocks = 264;

struct Split {
  int slices = 1;       // K-slices (blockIdx.z)
  int slice_depth = 0;  // depth per slice, a multiple of kBlockDepth (the last may be shorter)
};

constexpr bool splits_k(Version v) {
  return v == Version::split_k || v == Version::tf32_wmma || v == Version::bf16_wmma;
}

constexpr Split split(Version v, int rows, int cols, int depth) {
  Split s{1, depth};
  if (!splits_k(v) || depth <= 0) return s;
  const long long blocks = 1ll * ((rows + kBlockRows - 1) / kBlockRows) * ((cols + kBlockCols - 1) / kBlockCols);
  if (blocks >= kTargetBlocks) return s;
  const int wanted = int((kTargetBlocks + blocks - 1) / blocks);
  // A slice keeps at least two tiles of depth, or the second pass costs more than it saves.
  const int most = std::max(1, depth / (2 * kBlockDepth));
  const int slices = std::min(wanted, most);
  if (slices <= 1) return s;
  const int per = (depth + slices - 1) / slices;
  s.slice_depth = (per + kBlockDepth - 1) / kBlockDepth * kBlockDepth;
  s.slices = (depth + s.slice_depth - 1) / s.slice_depth;
  return s;
}

// Floats of partial sums a problem needs: slices × (rows×cols outputs + rows row sums).
constexpr std::size_t partial_floats(const Split& s, int rows, int cols, bool row_sums) {
  if (s.slices <= 1) return 0;
  return std::size_t(s.slices) * (std::size_t(rows) * cols + (row_sums ? std::size_t(rows) : 0));
}

}  // namespace vae::kernels::gemm::plan
