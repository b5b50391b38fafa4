// The data family: batch gather (scaled or binarized, bit-identical to data/pixels.h), the
// batch cursor, and the step's noise drawn as model/noise.h draws it (interface and
// semantics: kernels/data.h). One source for the GPU (nvcc) and the CPU executor
// (data_emu.cpp includes this file).
//
// Versions (data::Version):
//   v1 per-element  one thread per output element (grid-stride over at most 1024 blocks of
//                   256): a pixel of the batch, or one normal draw. Every output is a pure
//                   function of its index, so thread order cannot matter.
//
// Check without a GPU:  ctest -R DataKernels   (tests/test_data_kernels.cpp)
#include "kernels/kernel_lang.h"
#include "kernels/launch.h"
// After launch.h (data_targets.h declares vae::kernels::{emu,cuda}).
#include "kernels/data.h"
#include "kernels/data_targets.h"
#include "common/counter_rng.h"  // host and device
#include "model/noise.h"

namespace vae::kernels::VAE_KERNEL_TARGET::data {

using ::vae::kernels::data::BatchCursor;
using ::vae::kernels::data::GatherArgs;
using ::vae::kernels::data::NoiseArgs;
using ::vae::kernels::data::Version;

namespace {

constexpr int kThreads = 256;
constexpr long long kMaxBlocks = 1024;

__global__ void __launch_bounds__(kThreads) gather_kernel(GatherArgs a) {
  const long long elements = 1ll * a.batch * a.pixels;
  const std::int64_t position = a.cursor->position;
  // Static draws one sample for all epochs (key 0), Dynamic a fresh one per epoch.
  const std::uint64_t stream =
      ::vae::kStreamBinarizeBase + (a.binarize == Binarize::Dynamic ? std::uint64_t(a.cursor->epoch) : 0u);
  for (long long e = 1ll * blockIdx.x * blockDim.x + threadIdx.x; e < elements; e += 1ll * gridDim.x * blockDim.x) {
    const long long row = e / a.pixels, pixel = e % a.pixels;
    const long long at = position + row;
    const bool valid = at >= 0 && std::uint64_t(at) < a.order_count && a.order[at] < a.image_count;
    if (!valid) {  // a broken precondition (data.h): visible in floats, harmless in bytes
      if (a.x) a.x[e] = nanf("");
      else a.x_bytes[e] = 0;
      continue;
    }
    const std::uint64_t image = a.order[at];
    const std::uint8_t byte = a.images[image * std::uint64_t(a.pixels) + std::uint64_t(pixel)];
    if (a.binarize == Binarize::None) {
      if (a.x) a.x[e] = float(byte) / 255.0f;
      else a.x_bytes[e] = byte;
      continue;
    }
    const double draw = ::vae::counter_uniform(a.binarize_seed, stream, (image << 32) | std::uint64_t(pixel));
    const bool on = draw < double(byte) / 255.0;
    if (a.x) a.x[e] = on ? 1.0f : 0.0f;
    else a.x_bytes[e] = on ? std::uint8_t(255) : std::uint8_t(0);
  }
}

__global__ void advance_kernel(BatchCursor* cursor, int batch) { cursor->position += batch; }

__global__ void __launch_bounds__(kThreads) noise_kernel(NoiseArgs a) {
  const long long elements = 1ll * a.samples * a.batch * a.latent;
  const std::uint64_t step = a.steps_taken ? std::uint64_t(*a.steps_taken) : a.step;
  const std::uint64_t stream = ::vae::kStreamEpsStepBase + step;
  for (long long i = 1ll * blockIdx.x * blockDim.x + threadIdx.x; i < elements; i += 1ll * gridDim.x * blockDim.x)
    a.eps[i] = static_cast<float>(::vae::counter_normal(
        a.seed, stream, ::vae::eps_counter_index(std::uint64_t(i), a.batch, a.latent, {a.first, a.global_batch})));
}

LaunchConfig grid_stride(long long elements) {
  const long long blocks = (elements + kThreads - 1) / kThreads;
  return LaunchConfig{dim3(unsigned(blocks < kMaxBlocks ? blocks : kMaxBlocks)), dim3(kThreads)};
}

}  // namespace

void gather(const device::Stream& stream, Version v, const GatherArgs& a) {
  const LaunchConfig config = grid_stride(1ll * a.batch * a.pixels);
  switch (v) {
    case Version::per_element: VAE_LAUNCH(gather_kernel, stream, config, a); break;
  }
}

void advance(const device::Stream& stream, BatchCursor* cursor, int batch) {
  const LaunchConfig one_thread{dim3(1), dim3(1)};
  VAE_LAUNCH(advance_kernel, stream, one_thread, cursor, batch);
}

void noise(const device::Stream& stream, Version v, const NoiseArgs& a) {
  const LaunchConfig config = grid_stride(1ll * a.samples * a.batch * a.latent);
  switch (v) {
    case Version::per_element: VAE_LAUNCH(noise_kernel, stream, config, a); break;
  }
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET::data
