// The latent family: reparameterization + KL forward, and their backward (interface and
// semantics: kernels/latent.h). One source for the GPU (nvcc) and the CPU executor
// (latent_emu.cpp includes this file).
//
// Versions (latent::Version):
//   v1 per-image   forward: one thread per image walks j = 0..Z-1, writing z for every
//                  sample and summing the KL terms in order; backward: one thread per (b, j)
//                  element sums its K samples in order. A few KB per step: this family is
//                  launch-bound, never bandwidth-bound, at the VAE's sizes.
// fused-cuda runs this family only where the GEMM epilogues (kernels/gemm.h) cannot: the forward
// when 2Z > 64 (mu and logvar in different column tiles), the backward when K > 1 (an image's
// K rows of dz in different row blocks). The epilogues use these kernels' operations in their
// order, and the tests hold them to the same bits (tests/test_gemm_epilogues.cpp).
//
// Check without a GPU:  ctest -R LatentKernels   (tests/test_latent_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h (latent_targets.h declares vae::kernels::{emu,cuda}).
#include "kernels/latent.h"
#include "kernels/latent_math.h"
#include "kernels/latent_targets.h"

namespace vae::kernels::VAE_KERNEL_TARGET::latent {

using ::vae::kernels::latent::BackwardArgs;
using ::vae::kernels::latent::ForwardArgs;
using ::vae::kernels::latent::Version;

namespace {

constexpr int kThreads = 128;

__global__ void forward_per_image_kernel(ForwardArgs a) {
  const int b = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (b >= a.batch) return;  // no barrier in this kernel
  const float* mu = a.heads + 2ll * a.latent * b;
  const float* logvar = mu + a.latent;
  float kl_terms = 0.0f;
  for (int j = 0; j < a.latent; ++j) {
    const float m = mu[j], lv = logvar[j];
    const float sigma = latent_math::sigma(lv);
    for (int k = 0; k < a.samples; ++k) {
      const long long row = 1ll * k * a.batch + b;
      a.z[row * a.latent + j] = latent_math::reparameterize(m, sigma, a.eps[row * a.latent + j]);
    }
    kl_terms += latent_math::kl_term(m, lv);
  }
  if (a.kl) a.kl[b] = -0.5f * kl_terms;
}

__global__ void backward_per_element_kernel(BackwardArgs a) {
  const float beta_w = latent_math::kl_term_weight(a.beta, a.kl_weight);
  const long long elements = 1ll * a.batch * a.latent;
  for (long long e = 1ll * blockIdx.x * blockDim.x + threadIdx.x; e < elements; e += 1ll * gridDim.x * blockDim.x) {
    const long long b = e / a.latent, j = e % a.latent;
    const long long mu_at = 2 * a.latent * b + j, logvar_at = mu_at + a.latent;
    const float m = a.heads[mu_at], lv = a.heads[logvar_at];
    const float half_sigma = latent_math::half_sigma(lv);
    float dmu = 0.0f, dlogvar = 0.0f;
    for (int k = 0; k < a.samples; ++k) {
      const long long at = (1ll * k * a.batch + b) * a.latent + j;
      latent_math::add_sample(a.dz[at], a.eps[at], half_sigma, dmu, dlogvar);
    }
    // Written after both reads of this element: d_heads may be heads.
    a.d_heads[mu_at] = latent_math::d_mu(dmu, beta_w, m);
    a.d_heads[logvar_at] = latent_math::d_logvar(dlogvar, beta_w, lv);
  }
}

unsigned blocks_for(long long n, int per_block, long long cap) {
  const long long blocks = (n + per_block - 1) / per_block;
  return unsigned(blocks < cap ? blocks : cap);
}

}  // namespace

void forward(const device::Stream& stream, Version v, const ForwardArgs& a) {
  const LaunchConfig per_image{dim3(blocks_for(a.batch, kThreads, 1ll << 30)), dim3(kThreads)};
  switch (v) {
    case Version::per_image: VAE_LAUNCH(forward_per_image_kernel, stream, per_image, a); break;
  }
}

void backward(const device::Stream& stream, Version v, const BackwardArgs& a) {
  // Grid-stride: at most 1024 blocks, enough to fill a GPU, few fibers on the CPU executor.
  const LaunchConfig per_element{dim3(blocks_for(1ll * a.batch * a.latent, kThreads, 1024)), dim3(kThreads)};
  switch (v) {
    case Version::per_image: VAE_LAUNCH(backward_per_element_kernel, stream, per_element, a); break;
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::latent
