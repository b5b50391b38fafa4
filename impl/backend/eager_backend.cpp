#include "backend/eager_backend.h"

#include "backend/libtorch_backend.h"

namespace vae {

namespace {

class EagerBackend final : public LibTorchBackend {
 public:
  using LibTorchBackend::LibTorchBackend;
  std::string name() const override { return "libtorch-eager"; }

 protected:
  libtorch::Losses compute_losses(const torch::Tensor& flat, const torch::Tensor& x, const torch::Tensor& eps) override {
    return libtorch::forward(config(), libtorch::view_params(layout(), flat), x, eps);
  }
};

}  // namespace

BackendInfo eager_backend_info() {
  return cpu_and_cuda_backend_info<EagerBackend>("libtorch-eager",
                                                 "LibTorch eager ops and autograd, Adam as torch.optim.Adam");
}

}  // namespace vae
