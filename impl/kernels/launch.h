#pragma once
// The one way kernels are launched (no <<<>>> at call sites), the same call for both builds
// of a kernel file:
//
//   VAE_LAUNCH(my_kernel, stream, (LaunchConfig{grid, block, dynamic_shared_bytes}), args...);
//
// On the GPU it checks CUDA's limits, launches on the stream and turns a launch error into a
// vae::Error with the call's file:line; on the CPU executor it checks the same limits and
// queues the grid on the stream (run now, or recorded while the stream is being captured).
// Arguments are copied at launch, as CUDA copies kernel parameters. A template kernel goes in
// parentheses, since the macro would split its argument list: VAE_LAUNCH((tile<64, 64>), ...);
// so does a braced config (or name it first).
#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "device/device.h"
#include "kernels/kernel_lang.h"

#if defined(__CUDACC__)
namespace vae::kernels::detail {
// Throws vae::Error "file:line: launching name: <CUDA error>" if the launch failed.
void check_cuda_launch(cudaError_t status, const char* name, const char* file, int line);
}  // namespace vae::kernels::detail
#endif

// In the build's own namespace (vae::kernels::emu or ::cuda): the two builds define these
// differently, and one program links both, so a shared name would let the linker keep one
// build's definition for both (an ODR violation that sent CPU-executor launches to the GPU
// path, depending on link order).
namespace vae::kernels::VAE_KERNEL_TARGET {

struct LaunchConfig {
  dim3 grid;
  dim3 block;
  std::size_t dynamic_shared_bytes = 0;
};


template <class... Params, class... Args>
void launch_kernel(const char* file, int line, const char* name, const device::Stream& stream,
                   const LaunchConfig& config, void (*kernel)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
  ::vae::emu::GridLaunch grid;
  grid.grid = ::vae::emu::Dim3(config.grid.x, config.grid.y, config.grid.z);
  grid.block = ::vae::emu::Dim3(config.block.x, config.block.y, config.block.z);
  grid.dynamic_shared_bytes = config.dynamic_shared_bytes;
  grid.kernel = name;
  grid.file = file;
  grid.line = line;
#if defined(__CUDACC__)
  if (stream.kind() != device::Kind::cuda)
    throw vae::Error(std::string(file) + ":" + std::to_string(line) + ": " + name +
                     ": a GPU kernel launched on a CPU-executor stream");
  // CUDA's limits are on static + dynamic shared memory: over 48 KB in all needs the opt-in,
  // which is given for the dynamic part. Static memory alone cannot pass 48 KB (ptxas refuses).
  if (config.dynamic_shared_bytes > 0) {
    cudaFuncAttributes attributes{};
    ::vae::kernels::detail::check_cuda_launch(cudaFuncGetAttributes(&attributes, kernel), name, file, line);
    grid.static_shared_bytes = attributes.sharedSizeBytes;
  }
  ::vae::emu::check_launch_limits(grid);
  if (grid.static_shared_bytes + config.dynamic_shared_bytes > ::vae::emu::kSharedBytesWithoutOptIn)
    ::vae::kernels::detail::check_cuda_launch(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                   int(config.dynamic_shared_bytes)), name, file, line);
  kernel<<<config.grid, config.block, config.dynamic_shared_bytes, static_cast<cudaStream_t>(stream.cuda_stream())>>>(
      std::forward<Args>(args)...);
  ::vae::kernels::detail::check_cuda_launch(cudaGetLastError(), name, file, line);
#else
  ::vae::emu::check_launch_limits(grid);  // the static part adds up as the block declares it
  if (stream.kind() != device::Kind::emu)
    throw vae::Error(std::string(file) + ":" + std::to_string(line) + ": " + name +
                     ": a CPU-executor kernel launched on a GPU stream");
  std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  // The thread order is the stream's at queueing time (a captured launch keeps it).
  stream.enqueue_emu([grid, kernel, params, options = stream.emu_options()]() {
    ::vae::emu::run_grid(grid, options, [&] { std::apply(kernel, params); });
  });
#endif
}

}  // namespace vae::kernels::VAE_KERNEL_TARGET

namespace vae::kernels {
using VAE_KERNEL_TARGET::LaunchConfig;
}

#define VAE_LAUNCH(kernel, stream, config, ...)                                                            \
  ::vae::kernels::VAE_KERNEL_TARGET::launch_kernel(__FILE__, __LINE__, #kernel, (stream), (config), (kernel), \
                                                   __VA_ARGS__)
