#include "backend/torchscript_backend.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include <torch/jit.h>

#include "backend/libtorch_backend.h"

namespace vae {

namespace {

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// "torch.linear(in, params[i], params[j])": the layer's weight and bias by their index in
// the layout's views (the parameters come in as one tensor per view).
std::string linear(const ParamLayout& layout, const std::string& in, const LinearLayer& l) {
  return "torch.linear(" + in + ", params[" + std::to_string(libtorch::view_index(layout, l.weight_offset)) +
         "], params[" + std::to_string(libtorch::view_index(layout, l.bias_offset)) + "])";
}

}  // namespace

std::string torchscript_source(const VaeConfig& c) {
  const ParamLayout layout(c);
  const std::string act = c.activation == Activation::Relu ? "torch.relu" : "torch.tanh";
  std::ostringstream s;
  s << "def vae_losses(params: List[Tensor], x: Tensor, eps: Tensor) -> Tuple[Tensor, Tensor]:\n";
  s << "    h = x\n";
  for (const LinearLayer& l : layout.encoder_hidden()) s << "    h = " << act << "(" << linear(layout, "h", l) << ")\n";
  s << "    mu = " << linear(layout, "h", layout.mu()) << "\n";
  s << "    logvar = " << linear(layout, "h", layout.logvar()) << "\n";
  s << "    z = mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * eps\n";
  s << "    h = z\n";
  for (const LinearLayer& l : layout.decoder_hidden()) s << "    h = " << act << "(" << linear(layout, "h", l) << ")\n";
  s << "    logits = " << linear(layout, "h", layout.out()) << "\n";
  s << "    target = x.unsqueeze(0).expand_as(logits)\n";
  if (c.likelihood == Likelihood::Bernoulli) {
    // aten::binary_cross_entropy_with_logits(self, target, weight, pos_weight, reduction=0 (none))
    s << "    nll = torch.binary_cross_entropy_with_logits(logits, target, None, None, 0).sum(-1)\n";
  } else {
    s << "    nll = (0.5 * (target - torch.sigmoid(logits)).square() + " << number(0.5 * std::log(2.0 * M_PI))
      << ").sum(-1)\n";
  }
  s << "    recon = nll.mean(0)\n";
  s << "    kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(-1)\n";
  s << "    return recon, kl\n";
  return s.str();
}

namespace {

class TorchScriptBackend final : public LibTorchBackend {
 public:
  TorchScriptBackend(const VaeConfig& config, const std::string& device, const std::string& precision)
      : LibTorchBackend(config, device, precision), unit_(torch::jit::compile(torchscript_source(config))),
        function_(&unit_->get_function("vae_losses")) {}

  std::string name() const override { return "torchscript"; }

 protected:
  libtorch::Losses compute_losses(const std::vector<torch::Tensor>& params, const torch::Tensor& x,
                                  const torch::Tensor& eps) override {
    const auto out = (*function_)({c10::List<torch::Tensor>(params), x, eps}).toTuple();
    libtorch::Losses l;
    l.recon = out->elements()[0].toTensor();
    l.kl = out->elements()[1].toTensor();
    return l;
  }

 private:
  std::shared_ptr<torch::jit::CompilationUnit> unit_;
  torch::jit::Function* function_;
};

}  // namespace

BackendInfo torchscript_backend_info() {
  return cpu_and_cuda_backend_info<TorchScriptBackend>(
      "torchscript", "TorchScript JIT (deprecated upstream, shipped in LibTorch 2.11), source compiled in-process");
}

}  // namespace vae
