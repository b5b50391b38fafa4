// The batch-norm family (interface and semantics: kernels/batch_norm/batch_norm.h). One source
// for the GPU (nvcc) and the CPU executor (batch_norm_emu.cpp includes this file).
//
// Versions (batch_norm::Version):
//   v1 block-per-channel  training forward and backward: one block of 256 threads per channel;
//                         thread t adds elements t, t + 256, ... of the channel (in (b, hw)
//                         order), a fixed tree adds the 256 partial sums; two passes for the
//                         statistics (mean, then Σ(x - mean)², which cannot cancel), one more
//                         for y (normalise + activation) or dx. The block writes its channel's
//                         mean, rstd and running statistics; block 0 counts the batch. The dx
//                         pass also adds the dx it writes (the same strided order, the same
//                         tree) for dbias, the preceding conv's bias gradient, when asked.
//                         Evaluation: one thread per element.
//   v2 split-channel      v1 with each channel cut into slices (batch_norm.h: Split), one
//                         block each, so a layer with few channels and many values (conv-
//                         celeba64's first: 32 channels of B·1024) fills the GPU. Training
//                         forward: per slice its mean and M2 = Σ(x - slice mean)² (two passes
//                         over the slice, v1's strided order and tree), then a second kernel
//                         merges the slices in order (Chan et al.: mean = Σ n_s m_s / n,
//                         M2 = Σ M2_s + n_s (m_s - mean)², no cancellation) and writes y.
//                         Backward: per slice Σg and Σg·xhat, then a second kernel adds the
//                         slices in order and writes dx (and per slice Σdx), a third the conv
//                         bias gradient from those in order. One slice: v1's kernels.
//
// Check without a GPU:  ctest -R BatchNormKernels   (tests/test_batch_norm_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h (see conv.cu).
#include "kernels/activation_math.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_math.h"
#include "kernels/batch_norm/batch_norm_targets.h"

namespace vae::kernels::VAE_KERNEL_TARGET::batch_norm {

using ::vae::kernels::batch_norm::Activation;
using ::vae::kernels::batch_norm::kThreads;
using ::vae::kernels::batch_norm::Split;
using ::vae::kernels::batch_norm::BackwardArgs;
using ::vae::kernels::batch_norm::EvalForwardArgs;
using ::vae::kernels::batch_norm::TrainForwardArgs;
using ::vae::kernels::batch_norm::Version;
namespace act = activation_math;

namespace {

// Element e (in (b, hw) order) of channel c.
__device__ __forceinline__ long long at(int channels, int hw, int c, long long e) {
  return (e / hw * channels + c) * hw + e % hw;
}

// The block's sum of v (one per thread) by a fixed tree; every thread gets it.
__device__ __forceinline__ float block_sum(float* partial, float v, int t) {
  partial[t] = v;
  __syncthreads();  // every thread's value is in place
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();  // this level is complete before the next reads it
  }
  const float total = partial[0];
  __syncthreads();  // everyone has read the total before partial is reused
  return total;
}

__global__ void train_forward_kernel(TrainForwardArgs a) {
  VAE_SHARED(partial, float[kThreads]);
  const int c = int(blockIdx.x), t = int(threadIdx.x);
  const long long n = 1ll * a.batch * a.hw;
  float s = 0.0f;
  for (long long e = t; e < n; e += kThreads) s += a.x[at(a.channels, a.hw, c, e)];
  const float mean = block_sum(partial, s, t) / float(n);
  float q = 0.0f;
  for (long long e = t; e < n; e += kThreads) {
    const float d = a.x[at(a.channels, a.hw, c, e)] - mean;
    q += d * d;
  }
  const float var = block_sum(partial, q, t) / float(n);
  const float rstd = 1.0f / sqrtf(var + float(a.eps));
  const float gamma = a.gamma ? a.gamma[c] : 1.0f, beta = a.beta ? a.beta[c] : 0.0f;
  for (long long e = t; e < n; e += kThreads) {
    const long long i = at(a.channels, a.hw, c, e);
    a.y[i] = act::activate(a.activation, gamma * ((a.x[i] - mean) * rstd) + beta);
  }
  if (t != 0) return;
  a.mean[c] = mean;
  a.rstd[c] = rstd;
  if (a.running_mean) {
    const float m = float(a.momentum), unbiased = var * (float(n) / float(n - 1));
    a.running_mean[c] = (1.0f - m) * a.running_mean[c] + m * mean;
    a.running_var[c] = (1.0f - m) * a.running_var[c] + m * unbiased;
    if (c == 0) *a.num_batches_tracked += 1;
  }
}

__global__ void eval_forward_kernel(EvalForwardArgs a) {
  const long long i = 1ll * blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= 1ll * a.batch * a.channels * a.hw) return;
  const int c = int(i / a.hw % a.channels);
  a.y[i] = batch_norm_math::eval_normalize(a.activation, a.x[i], c, a.gamma, a.beta, a.running_mean, a.running_var,
                                           a.eps);
}

__global__ void backward_kernel(BackwardArgs a) {
  VAE_SHARED(partial, float[kThreads]);
  const int c = int(blockIdx.x), t = int(threadIdx.x);
  const long long n = 1ll * a.batch * a.hw;
  const float mean = a.mean[c], rstd = a.rstd[c], gamma = a.gamma ? a.gamma[c] : 1.0f;
  const bool prologue = a.activation != Activation::identity;
  float sg = 0.0f, sgx = 0.0f;
  for (long long e = t; e < n; e += kThreads) {
    const long long i = at(a.channels, a.hw, c, e);
    const float g = prologue ? act::prologue(a.activation, a.dy[i], a.y[i]) : a.dy[i];
    sg += g;
    sgx += g * ((a.x[i] - mean) * rstd);
  }
  const float dbeta = block_sum(partial, sg, t), dgamma = block_sum(partial, sgx, t);
  const float mean_g = dbeta / float(n), mean_gx = dgamma / float(n), scale = gamma * rstd;
  float sdx = 0.0f;
  for (long long e = t; e < n; e += kThreads) {
    const long long i = at(a.channels, a.hw, c, e);
    const float g = prologue ? act::prologue(a.activation, a.dy[i], a.y[i]) : a.dy[i];
    const float xhat = (a.x[i] - mean) * rstd;
    const float dx = scale * (g - mean_g - xhat * mean_gx);
    a.dx[i] = dx;
    sdx += dx;
  }
  // The same for every thread of the block, so every thread reaches the tree's barriers.
  const float dbias = a.dbias ? block_sum(partial, sdx, t) : 0.0f;
  if (t == 0) {
    a.dgamma[c] = dgamma;
    a.dbeta[c] = dbeta;
    if (a.dbias) a.dbias[c] = dbias;
  }
}

// --- v2: slices of a channel, one block each ----------------------------------------------
// Block (c, s) of a split: channel blockIdx.x, slice blockIdx.y, elements [begin, end).
struct SliceOf {
  int c = 0, s = 0;
  long long begin = 0, end = 0;
};
__device__ __forceinline__ SliceOf slice_of(const Split& sp, long long n) {
  SliceOf r;
  r.c = int(blockIdx.x), r.s = int(blockIdx.y);
  r.begin = 1ll * r.s * sp.slice_elements;
  r.end = min(n, r.begin + sp.slice_elements);
  return r;
}
// The number of values in slice s (the last may be shorter).
__device__ __forceinline__ float slice_count(const Split& sp, long long n, int s) {
  return float(min(n, 1ll * (s + 1) * sp.slice_elements) - 1ll * s * sp.slice_elements);
}
// Partial sum q of slice s of channel c in the workspace: [C][S][3].
__device__ __forceinline__ long long slot(const Split& sp, int c, int s, int q) {
  return (1ll * c * sp.slices + s) * 3 + q;
}

__global__ void slice_moments_kernel(TrainForwardArgs a, Split sp) {
  VAE_SHARED(partial, float[kThreads]);
  const int t = int(threadIdx.x);
  const SliceOf sl = slice_of(sp, 1ll * a.batch * a.hw);
  float sum = 0.0f;
  for (long long e = sl.begin + t; e < sl.end; e += kThreads) sum += a.x[at(a.channels, a.hw, sl.c, e)];
  const float mean = block_sum(partial, sum, t) / slice_count(sp, 1ll * a.batch * a.hw, sl.s);
  float q = 0.0f;
  for (long long e = sl.begin + t; e < sl.end; e += kThreads) {
    const float d = a.x[at(a.channels, a.hw, sl.c, e)] - mean;
    q += d * d;
  }
  const float m2 = block_sum(partial, q, t);
  if (t != 0) return;
  a.workspace[slot(sp, sl.c, sl.s, 0)] = mean;
  a.workspace[slot(sp, sl.c, sl.s, 1)] = m2;
}

__global__ void split_normalize_kernel(TrainForwardArgs a, Split sp) {
  VAE_SHARED(merged, float[2]);  // mean, var (biased)
  const int t = int(threadIdx.x);
  const long long n = 1ll * a.batch * a.hw;
  const SliceOf sl = slice_of(sp, n);
  if (t == 0) {  // the slices merged in order
    float total = 0.0f;
    for (int s = 0; s < sp.slices; ++s) total += slice_count(sp, n, s) * a.workspace[slot(sp, sl.c, s, 0)];
    const float mean = total / float(n);
    float m2 = 0.0f;
    for (int s = 0; s < sp.slices; ++s) {
      const float d = a.workspace[slot(sp, sl.c, s, 0)] - mean;
      m2 += a.workspace[slot(sp, sl.c, s, 1)] + slice_count(sp, n, s) * d * d;
    }
    merged[0] = mean;
    merged[1] = m2 / float(n);
  }
  __syncthreads();  // the merged statistics are in place
  const float mean = merged[0], var = merged[1];
  const float rstd = 1.0f / sqrtf(var + float(a.eps));
  const float gamma = a.gamma ? a.gamma[sl.c] : 1.0f, beta = a.beta ? a.beta[sl.c] : 0.0f;
  for (long long e = sl.begin + t; e < sl.end; e += kThreads) {
    const long long i = at(a.channels, a.hw, sl.c, e);
    a.y[i] = act::activate(a.activation, gamma * ((a.x[i] - mean) * rstd) + beta);
  }
  if (t != 0 || sl.s != 0) return;  // slice 0 writes the channel's statistics
  a.mean[sl.c] = mean;
  a.rstd[sl.c] = rstd;
  if (a.running_mean) {
    const float m = float(a.momentum), unbiased = var * (float(n) / float(n - 1));
    a.running_mean[sl.c] = (1.0f - m) * a.running_mean[sl.c] + m * mean;
    a.running_var[sl.c] = (1.0f - m) * a.running_var[sl.c] + m * unbiased;
    if (sl.c == 0) *a.num_batches_tracked += 1;
  }
}

__global__ void slice_gradient_sums_kernel(BackwardArgs a, Split sp) {
  VAE_SHARED(partial, float[kThreads]);
  const int t = int(threadIdx.x);
  const SliceOf sl = slice_of(sp, 1ll * a.batch * a.hw);
  const float mean = a.mean[sl.c], rstd = a.rstd[sl.c];
  const bool prologue = a.activation != Activation::identity;
  float sg = 0.0f, sgx = 0.0f;
  for (long long e = sl.begin + t; e < sl.end; e += kThreads) {
    const long long i = at(a.channels, a.hw, sl.c, e);
    const float g = prologue ? act::prologue(a.activation, a.dy[i], a.y[i]) : a.dy[i];
    sg += g;
    sgx += g * ((a.x[i] - mean) * rstd);
  }
  const float total_g = block_sum(partial, sg, t), total_gx = block_sum(partial, sgx, t);
  if (t != 0) return;
  a.workspace[slot(sp, sl.c, sl.s, 0)] = total_g;
  a.workspace[slot(sp, sl.c, sl.s, 1)] = total_gx;
}

__global__ void split_input_gradient_kernel(BackwardArgs a, Split sp) {
  VAE_SHARED(partial, float[kThreads]);
  VAE_SHARED(sums, float[2]);  // dbeta, dgamma
  const int t = int(threadIdx.x);
  const long long n = 1ll * a.batch * a.hw;
  const SliceOf sl = slice_of(sp, n);
  if (t == 0) {  // the slices added in order
    float dbeta = 0.0f, dgamma = 0.0f;
    for (int s = 0; s < sp.slices; ++s) {
      dbeta += a.workspace[slot(sp, sl.c, s, 0)];
      dgamma += a.workspace[slot(sp, sl.c, s, 1)];
    }
    sums[0] = dbeta, sums[1] = dgamma;
  }
  __syncthreads();  // the channel's sums are in place
  const float dbeta = sums[0], dgamma = sums[1];
  const float mean = a.mean[sl.c], rstd = a.rstd[sl.c], gamma = a.gamma ? a.gamma[sl.c] : 1.0f;
  const float mean_g = dbeta / float(n), mean_gx = dgamma / float(n), scale = gamma * rstd;
  const bool prologue = a.activation != Activation::identity;
  float sdx = 0.0f;
  for (long long e = sl.begin + t; e < sl.end; e += kThreads) {
    const long long i = at(a.channels, a.hw, sl.c, e);
    const float g = prologue ? act::prologue(a.activation, a.dy[i], a.y[i]) : a.dy[i];
    const float xhat = (a.x[i] - mean) * rstd;
    const float dx = scale * (g - mean_g - xhat * mean_gx);
    a.dx[i] = dx;
    sdx += dx;
  }
  // The same for every thread of the block, so every thread reaches the tree's barriers.
  const float slice_dx = a.dbias ? block_sum(partial, sdx, t) : 0.0f;
  if (t != 0) return;
  if (a.dbias) a.workspace[slot(sp, sl.c, sl.s, 2)] = slice_dx;
  if (sl.s == 0) {
    a.dgamma[sl.c] = dgamma;
    a.dbeta[sl.c] = dbeta;
  }
}

// The conv bias gradient: each channel's slice sums of dx in order.
__global__ void split_bias_gradient_kernel(BackwardArgs a, Split sp) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= a.channels) return;
  float sum = 0.0f;
  for (int s = 0; s < sp.slices; ++s) sum += a.workspace[slot(sp, c, s, 2)];
  a.dbias[c] = sum;
}

}  // namespace

void train_forward(const device::Stream& stream, Version v, const TrainForwardArgs& a) {
  const Split sp = ::vae::kernels::batch_norm::split(v, a.channels, 1ll * a.batch * a.hw);
  if (sp.slices <= 1) {
    const LaunchConfig per_channel{dim3(unsigned(a.channels)), dim3(kThreads)};
    VAE_LAUNCH(train_forward_kernel, stream, per_channel, a);
    return;
  }
  const LaunchConfig per_slice{dim3(unsigned(a.channels), unsigned(sp.slices)), dim3(kThreads)};
  VAE_LAUNCH(slice_moments_kernel, stream, per_slice, a, sp);
  VAE_LAUNCH(split_normalize_kernel, stream, per_slice, a, sp);
}

void eval_forward(const device::Stream& stream, Version, const EvalForwardArgs& a) {
  const long long n = 1ll * a.batch * a.channels * a.hw;
  const LaunchConfig per_element{dim3(unsigned((n + 255) / 256)), dim3(256)};
  VAE_LAUNCH(eval_forward_kernel, stream, per_element, a);
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& a) {
  const Split sp = ::vae::kernels::batch_norm::split(v, a.channels, 1ll * a.batch * a.hw);
  if (sp.slices <= 1) {
    const LaunchConfig per_channel{dim3(unsigned(a.channels)), dim3(kThreads)};
    VAE_LAUNCH(backward_kernel, stream, per_channel, a);
    return;
  }
  const LaunchConfig per_slice{dim3(unsigned(a.channels), unsigned(sp.slices)), dim3(kThreads)};
  VAE_LAUNCH(slice_gradient_sums_kernel, stream, per_slice, a, sp);
  VAE_LAUNCH(split_input_gradient_kernel, stream, per_slice, a, sp);
  if (a.dbias) {
    const LaunchConfig per_channel_thread{dim3(unsigned((a.channels + 63) / 64)), dim3(64)};
    VAE_LAUNCH(split_bias_gradient_kernel, stream, per_channel_thread, a, sp);
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::batch_norm
