// Build without VAE_WITH_CUDA: the same API, answering that CUDA was not compiled in.
#include "cuda/device_info.h"

namespace vae {

CudaInfo query_cuda() {
  CudaInfo info;
  info.unavailable_reason = "built without CUDA (VAE_WITH_CUDA=OFF)";
  return info;
}

}  // namespace vae
