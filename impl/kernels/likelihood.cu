// The likelihood family: per-pixel NLL, dL/dO in place, per-image recon/loss/ELBO, running
// sums and the non-finite record (interface and semantics: kernels/likelihood.h). One source
// for the GPU (nvcc) and the CPU executor (likelihood_emu.cpp includes this file).
//
// Versions (likelihood::Version):
//   v1 row-blocks  one block of 256 threads per image: for each of its K rows, every thread
//                  walks the pixels d = t, t+256, ... (reading each logit once and writing its
//                  gradient over it), then a shared-memory tree adds the 256 partial sums; the
//                  K row sums are added in order by thread 0, which also assembles loss and
//                  ELBO. A second launch of one block adds the batch to the running sums
//                  (per-thread strides over the images, then a tree, in double).
//   v2 tile-sums   after the output GEMM's likelihood epilogue (gemm.h), which wrote dL/dO and
//                  left the NLL of each row per 64-column tile: one launch of one block, thread
//                  t assembles images t, t+256, ... (tiles in order, then the K rows in order)
//                  and, as v1's second launch, adds them to the running sums. Against v1: the
//                  logits' round trip through memory and two launches fewer per step; the
//                  recon's summation order differs (tolerances.h bounds both). After a conv
//                  output layer's epilogue (conv.h) the same from its per-block image sums
//                  (conv_nll_layout.h: column blocks, then row blocks, in order).
//
// Check without a GPU:  ctest -R LikelihoodKernels   (tests/test_likelihood_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h (likelihood_targets.h declares vae::kernels::{emu,cuda}).
#include "kernels/likelihood.h"
#include "kernels/conv/conv_nll_layout.h"
#include "kernels/latent_math.h"
#include "kernels/likelihood_math.h"
#include "kernels/likelihood_targets.h"

namespace vae::kernels::VAE_KERNEL_TARGET::likelihood {

using ::vae::kernels::likelihood::Args;
using ::vae::kernels::likelihood::Version;

namespace {

constexpr int kRowThreads = 256;  // a power of two: the tree halves it
constexpr int kSumThreads = 256;

__device__ __forceinline__ float target(const Args& a, long long at) {
  return likelihood_math::target(a.x, reinterpret_cast<const unsigned char*>(a.x_bytes), at);
}

// β·w in double, rounded to float once (kernels/latent_math.h, as the latent kernels).
__device__ __forceinline__ float kl_term_weight(const Args& a) { return latent_math::kl_term_weight(a.beta, a.kl_weight); }

__device__ __forceinline__ float image_loss(float recon, float kl, float beta_w) { return recon + beta_w * kl; }

// The first step at which a quantity was not finite: only a slot still at -1 takes the step,
// and every thread that writes in one step writes the same value.
__device__ __forceinline__ void record_nonfinite(std::int64_t* record, int slot, std::int64_t step) {
  atomicCAS(reinterpret_cast<unsigned long long*>(record + slot), ~0ull, static_cast<unsigned long long>(step));
}

// Image b's recon, loss and ELBO from the sum of its K rows' NLL (and the non-finite record).
__device__ __forceinline__ void assemble(const Args& a, int b, float recon_sum) {
  const float recon = recon_sum / float(a.samples), kl = a.kl[b];
  const float loss = image_loss(recon, kl, kl_term_weight(a));
  a.recon[b] = recon;
  if (a.loss) a.loss[b] = loss;
  if (a.elbo) a.elbo[b] = -(recon + kl);
  if (a.nonfinite) {
    const std::int64_t step = *a.steps_taken + 1;
    if (!isfinite(loss)) record_nonfinite(a.nonfinite, kNonFiniteLoss, step);
    if (!isfinite(recon)) record_nonfinite(a.nonfinite, kNonFiniteRecon, step);
    if (!isfinite(kl)) record_nonfinite(a.nonfinite, kNonFiniteKl, step);
  }
}

// Thread t of one block adds images t, t + 256, ... in order, then a tree over the threads
// adds the threads' sums to the running sums (all threads call it: it has barriers). partial is
// the calling kernel's shared [3][kSumThreads].
__device__ void add_to_running_sums(const Args& a, double (*partial)[kSumThreads], double recon, double kl, double loss) {
  const int t = int(threadIdx.x);
  partial[0][t] = recon, partial[1][t] = kl, partial[2][t] = loss;
  __syncthreads();  // every partial sum is in place
  for (int half = kSumThreads / 2; half > 0; half /= 2) {
    if (t < half)
      for (int q = 0; q < 3; ++q) partial[q][t] += partial[q][t + half];
    __syncthreads();  // this level is complete before the next reads it
  }
  if (t == 0) {
    a.sums->images += a.batch;
    a.sums->recon += partial[0][0];
    a.sums->kl += partial[1][0];
    a.sums->loss += partial[2][0];
  }
}

// v1: one block of 256 threads per image.
__global__ void __launch_bounds__(kRowThreads) rows_kernel(Args a) {
  VAE_SHARED(partial, float[kRowThreads]);
  const int t = int(threadIdx.x), b = int(blockIdx.x);
  const float samples = float(a.samples);
  const long long x_row = 1ll * b * a.pixels;
  float recon_sum = 0.0f;  // thread 0's: the K row sums in order
  for (int k = 0; k < a.samples; ++k) {
    float* o = a.logits + (1ll * k * a.batch + b) * a.pixels;
    float sum = 0.0f;
    for (int d = t; d < a.pixels; d += kRowThreads) {
      float gradient;
      sum += likelihood_math::pixel_nll(a.likelihood, o[d], target(a, x_row + d), samples, &gradient);
      if (a.write_gradient) o[d] = gradient;
    }
    partial[t] = sum;
    __syncthreads();  // every partial sum is in place
    for (int half = kRowThreads / 2; half > 0; half /= 2) {
      if (t < half) partial[t] += partial[t + half];
      __syncthreads();  // this level is complete before the next reads it
    }
    if (t == 0) recon_sum += partial[0];
    __syncthreads();  // partial[0] is read before the next row overwrites it
  }
  if (t == 0) assemble(a, b, recon_sum);
}

// v1's second launch: the images' stored values, in double.
__global__ void __launch_bounds__(kSumThreads) batch_sums_kernel(Args a) {
  VAE_SHARED(partial, double[3][kSumThreads]);
  const int t = int(threadIdx.x);
  const float beta_w = kl_term_weight(a);
  double recon = 0.0, kl = 0.0, loss = 0.0;
  for (int b = t; b < a.batch; b += kSumThreads) {
    recon += double(a.recon[b]);
    kl += double(a.kl[b]);
    loss += double(image_loss(a.recon[b], a.kl[b], beta_w));
  }
  add_to_running_sums(a, partial, recon, kl, loss);
}

// v2: one block; thread t assembles images t, t + 256, ... from the tiles' row sums.
__global__ void __launch_bounds__(kSumThreads) tile_sums_kernel(Args a) {
  VAE_SHARED(partial, double[3][kSumThreads]);
  const int t = int(threadIdx.x), tiles = ::vae::kernels::gemm::likelihood_tiles(a.pixels);
  const long long rows = 1ll * a.samples * a.batch;
  const float beta_w = kl_term_weight(a);
  double recon = 0.0, kl = 0.0, loss = 0.0;
  const ::vae::kernels::conv::NllLayout conv{int(rows), a.conv_hw, a.conv_channels};
  for (int b = t; b < a.batch; b += kSumThreads) {
    float recon_sum = 0.0f;
    for (int k = 0; k < a.samples; ++k) {
      const long long image = 1ll * k * a.batch + b;
      float row = 0.0f;
      if (a.conv_hw > 0) {
        const long long first = image * a.conv_hw, last = first + a.conv_hw - 1;  // its output rows
        for (int cb = 0; cb < conv.col_blocks(); ++cb)
          for (long long rb = first / conv.kRows; rb <= last / conv.kRows; ++rb)
            row += a.row_nll[conv.index(cb, int(rb), int(image - conv.image_of(rb * conv.kRows)))];
      } else {
        for (int tile = 0; tile < tiles; ++tile) row += a.row_nll[tile * rows + image];
      }
      recon_sum += row;
    }
    assemble(a, b, recon_sum);
    recon += double(a.recon[b]);
    kl += double(a.kl[b]);
    loss += double(image_loss(a.recon[b], a.kl[b], beta_w));
  }
  if (a.sums) add_to_running_sums(a, partial, recon, kl, loss);
}

}  // namespace

void run(const device::Stream& stream, Version v, const Args& a) {
  const LaunchConfig per_image{dim3(unsigned(a.batch)), dim3(kRowThreads)};
  const LaunchConfig one_block{dim3(1), dim3(kSumThreads)};
  switch (v) {
    case Version::row_blocks:
      VAE_LAUNCH(rows_kernel, stream, per_image, a);
      if (a.sums) VAE_LAUNCH(batch_sums_kernel, stream, one_block, a);
      break;
    case Version::tile_sums: VAE_LAUNCH(tile_sums_kernel, stream, one_block, a); break;
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::likelihood
