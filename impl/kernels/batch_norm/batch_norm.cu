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
//
// Check without a GPU:  ctest -R BatchNormKernels   (tests/test_batch_norm_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h (see conv.cu).
#include "kernels/activation_math.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_targets.h"

namespace vae::kernels::VAE_KERNEL_TARGET::batch_norm {

using ::vae::kernels::batch_norm::Activation;
using ::vae::kernels::batch_norm::BackwardArgs;
using ::vae::kernels::batch_norm::EvalForwardArgs;
using ::vae::kernels::batch_norm::TrainForwardArgs;
using ::vae::kernels::batch_norm::Version;
namespace act = activation_math;

namespace {

constexpr int kThreads = 256;

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
  const float rstd = 1.0f / sqrtf(a.running_var[c] + float(a.eps));
  const float gamma = a.gamma ? a.gamma[c] : 1.0f, beta = a.beta ? a.beta[c] : 0.0f;
  a.y[i] = act::activate(a.activation, gamma * ((a.x[i] - a.running_mean[c]) * rstd) + beta);
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

}  // namespace

void train_forward(const device::Stream& stream, Version, const TrainForwardArgs& a) {
  const LaunchConfig per_channel{dim3(unsigned(a.channels)), dim3(kThreads)};
  VAE_LAUNCH(train_forward_kernel, stream, per_channel, a);
}

void eval_forward(const device::Stream& stream, Version, const EvalForwardArgs& a) {
  const long long n = 1ll * a.batch * a.channels * a.hw;
  const LaunchConfig per_element{dim3(unsigned((n + 255) / 256)), dim3(256)};
  VAE_LAUNCH(eval_forward_kernel, stream, per_element, a);
}

void backward(const device::Stream& stream, Version, const BackwardArgs& a) {
  const LaunchConfig per_channel{dim3(unsigned(a.channels)), dim3(kThreads)};
  VAE_LAUNCH(backward_kernel, stream, per_channel, a);
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::batch_norm
