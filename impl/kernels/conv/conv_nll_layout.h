#pragma once
// Where the conv family's likelihood epilogue (conv.h, LikelihoodEpilogue) leaves the NLL, and
// where the likelihood family's v2 (likelihood.h, Args::conv_hw) reads it. Host and device.
//
// The output layer's implicit GEMM has rows = the K·B images' hw output pixels each (image m
// owns rows m·hw .. m·hw + hw - 1) and cols = its C channels. A block of kRows rows and kCols
// columns sums, for each image whose rows it holds, that image's NLL over the block's elements
// (rows in order, each row's columns in order) into one slot: block_nll[cb][rb][s], where cb and
// rb are the block's column and row block and s counts the images from the one holding the
// block's first row. A 64-row block holds at most 63 / hw + 2 images. An image's NLL is then
// its slots over column blocks, then row blocks, in order: a fixed order, no atomics.
// Plain constexpr: nvcc calls it from device code (--expt-relaxed-constexpr), as conv_plan.h.
#include <cstddef>

#include "kernels/conv/conv_plan.h"

namespace vae::kernels::conv {

struct NllLayout {
  static constexpr int kRows = plan::kBlockRows, kCols = plan::kBlockCols;  // v3's and v4's block tile
  int images = 0, hw = 0, channels = 0;

  constexpr int row_blocks() const {
    return int((1ll * images * hw + kRows - 1) / kRows);
  }
  constexpr int col_blocks() const { return (channels + kCols - 1) / kCols; }
  constexpr int slots() const { return (kRows - 1) / hw + 2 < kRows ? (kRows - 1) / hw + 2 : kRows; }
  constexpr std::size_t floats() const {
    return std::size_t(col_blocks()) * std::size_t(row_blocks()) * std::size_t(slots());
  }
  constexpr std::size_t index(int cb, int rb, int slot) const {
    return (std::size_t(cb) * std::size_t(row_blocks()) + std::size_t(rb)) * std::size_t(slots()) + std::size_t(slot);
  }
  // The image holding row i (of images · hw).
  constexpr int image_of(long long row) const { return int(row / hw); }
};

}  // namespace vae::kernels::conv
