// The adam family: torch.optim.Adam's step in fp32 over the flat parameter buffer, step count
// and bias corrections on the device, the non-finite check folded in (interface, rounding
// order and the choices against torch: kernels/adam.h). One source for the GPU (nvcc) and the
// CPU executor (adam_emu.cpp includes this file).
//
// Versions (adam::Version):
//   v1 grid-stride  a one-thread launch advances the step and computes the bias corrections;
//                   then one thread per entry (grid-stride over at most 1024 blocks of 256)
//                   updates m, v and p in registers: 16 bytes read and 12 written per entry,
//                   a bandwidth-bound loop. The multiply-adds are explicit fmaf and the rest
//                   IEEE division and square root, so nvcc's contraction changes nothing: the
//                   GPU computes the CPU executor's bits.
//
// Check without a GPU:  ctest -R AdamKernel   (tests/test_adam_kernel.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h (adam_targets.h declares vae::kernels::{emu,cuda}).
#include "kernels/adam.h"
#include "kernels/adam_targets.h"

namespace vae::kernels::VAE_KERNEL_TARGET::adam {

using ::vae::kernels::adam::StepArgs;
using ::vae::kernels::adam::Version;

namespace {

constexpr int kThreads = 256;
constexpr long long kMaxBlocks = 1024;

// Python's arithmetic on torch's scalars (double), then the float that a tensor op uses.
__global__ void begin_step_kernel(StepArgs a) {
  const std::int64_t t = ++a.state->step;
  const double bias_correction1 = 1.0 - pow(a.options.beta1, double(t));
  const double bias_correction2 = 1.0 - pow(a.options.beta2, double(t));
  a.state->step_size = float(a.options.lr / bias_correction1);
  a.state->bias_correction2_sqrt = float(sqrt(bias_correction2));
}

__global__ void __launch_bounds__(kThreads) update_kernel(StepArgs a) {
  // Each scalar as torch hands it to a float kernel: the double (1 - β, ...) rounded once.
  const float one_minus_beta1 = float(1.0 - a.options.beta1);
  const float beta2 = float(a.options.beta2);
  const float one_minus_beta2 = float(1.0 - a.options.beta2);
  const float eps = float(a.options.eps);
  const float neg_step_size = -a.state->step_size;
  const float bias_correction2_sqrt = a.state->bias_correction2_sqrt;
  const long long count = static_cast<long long>(a.count);
  for (long long i = 1ll * blockIdx.x * blockDim.x + threadIdx.x; i < count; i += 1ll * gridDim.x * blockDim.x) {
    const float g = a.grad[i];
    if (a.nonfinite && !isfinite(g))  // only the first step's t sticks; every writer writes t
      atomicCAS(reinterpret_cast<unsigned long long*>(a.nonfinite + kNonFiniteGradient), ~0ull,
                static_cast<unsigned long long>(a.state->step));
    const float m_old = a.exp_avg[i];
    const float m = fmaf(one_minus_beta1, g - m_old, m_old);                // lerp_(g, 1-β1)
    const float v = fmaf(one_minus_beta2 * g, g, beta2 * a.exp_avg_sq[i]);  // mul_(β2).addcmul_(g, g, 1-β2)
    const float denom = sqrtf(v) / bias_correction2_sqrt + eps;
    a.params[i] = a.params[i] + (neg_step_size * m) / denom;                // addcdiv_(m, denom, -step_size)
    a.exp_avg[i] = m;
    a.exp_avg_sq[i] = v;
  }
}

}  // namespace

void step(const device::Stream& stream, Version v, const StepArgs& a) {
  const LaunchConfig one_thread{dim3(1), dim3(1)};
  const long long blocks = (static_cast<long long>(a.count) + kThreads - 1) / kThreads;
  const LaunchConfig grid_stride{dim3(unsigned(blocks < kMaxBlocks ? blocks : kMaxBlocks)), dim3(kThreads)};
  switch (v) {
    case Version::grid_stride:
      VAE_LAUNCH(begin_step_kernel, stream, one_thread, a);
      VAE_LAUNCH(update_kernel, stream, grid_stride, a);
      break;
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::adam
