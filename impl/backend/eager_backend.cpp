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
  BackendInfo info;
  info.name = "libtorch-eager";
  info.description = "LibTorch eager ops and autograd, Adam as torch.optim.Adam";
  info.devices = {"cpu", "cuda"};
  info.precisions = {"fp32", "fp64", "tf32"};
  info.usable = [](const std::string& device, std::string& reason) {
    return device == "cpu" || torch_cuda_usable(reason);
  };
  info.create = [](const VaeConfig& config, const std::string& device, const std::string& precision) {
    return std::unique_ptr<Backend>(new EagerBackend(config, device, precision));
  };
  return info;
}

}  // namespace vae
