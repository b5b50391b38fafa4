#include <cuda_runtime.h>

#include "common/build_info.h"
#include "cuda/device_info.h"

namespace vae {

CudaInfo query_cuda() {
  CudaInfo info;
  info.compiled = true;
  info.compiled_archs = VAE_CUDA_ARCHITECTURES;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    info.unavailable_reason = std::string("no CUDA device: ") + cudaGetErrorString(status);
    cudaGetLastError();  // this error is not sticky: clear it so later calls start clean
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDevice d;
    d.index = i;
    d.name = prop.name;
    d.sm_major = prop.major;
    d.sm_minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    d.memory_gib = double(prop.totalGlobalMem) / double(1ull << 30);
    int clock_khz = 0;
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, i);
    d.clock_ghz = clock_khz / 1e6;
    info.devices.push_back(d);
  }
  if (info.devices.empty()) info.unavailable_reason = "no CUDA device: the runtime reports 0 devices";
  return info;
}

}  // namespace vae
