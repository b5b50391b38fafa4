#include "backend/eager_backend.h"

#include "backend/libtorch_backend.h"

namespace vae {

namespace {

// The LibTorch base as it is: eager math, autograd, Python-rounding Adam.
class EagerBackend final : public LibTorchBackend {
 public:
  using LibTorchBackend::LibTorchBackend;
  std::string name() const override { return "libtorch-eager"; }
};

}  // namespace

BackendInfo eager_backend_info() {
  BackendInfo info = cpu_and_cuda_backend_info<EagerBackend>("libtorch-eager",
                                                             "LibTorch eager ops and autograd, Adam as torch.optim.Adam");
  info.runs_objectives = true;  // libtorch/vae_math.h computes every objective
  return info;
}

}  // namespace vae
