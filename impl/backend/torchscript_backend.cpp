#include "backend/torchscript_backend.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include <torch/jit.h>

#include "backend/libtorch_backend.h"
#include "model/layers.h"

namespace vae {

namespace {

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string ints(int64_t a, int64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; }

// params[i]: the parameters come in as one tensor per view of the layout.
std::string param(size_t view) { return "params[" + std::to_string(view) + "]"; }

// The lines applying one layer to h, as libtorch/vae_math.cpp's apply_layer does (the same ops
// in the same order: dense on the last dimension of a flat h, a conv on h viewed as
// [N, C, H, W]; batch norm as bn_mode says: 0 the batch's statistics, 1 the batch's while
// updating the running ones in `running` (and num_batches_tracked), 2 the running ones).
// h arrives [N, C, H, W] when `in_spatial` (after a conv, or a dense layer reshaped), else flat.
std::string layer_lines(const DerivedLayer& l, bool in_spatial) {
  std::ostringstream s;
  const std::string w = param(l.weight), b = param(l.bias);
  if (l.spec.kind == LayerKind::Dense) {
    if (in_spatial) s << "    h = h.flatten(1)\n";
    s << "    h = torch.linear(h, " << w << ", " << b << ")\n";
    if (l.spec.reshape)
      s << "    h = h.reshape([-1, " << l.spec.reshape->c << ", " << l.spec.reshape->h << ", " << l.spec.reshape->w
        << "])\n";
  } else {
    if (!in_spatial) s << "    h = h.reshape([-1, " << l.in.c << ", " << l.in.h << ", " << l.in.w << "])\n";
    const std::string geometry = ints(l.spec.stride, l.spec.stride) + ", " + ints(l.spec.padding, l.spec.padding);
    if (l.spec.kind == LayerKind::Conv2d)
      s << "    h = torch.conv2d(h, " << w << ", " << b << ", " << geometry << ")\n";
    else
      s << "    h = torch.conv_transpose2d(h, " << w << ", " << b << ", " << geometry << ", "
        << ints(l.spec.output_padding, l.spec.output_padding) << ")\n";
  }
  if (l.bn_weight) {
    const auto running = [](size_t k) { return "running[" + std::to_string(k) + "]"; };
    const std::string wb = param(*l.bn_weight) + ", " + param(*l.bn_bias),
                      tail = number(kBatchNormMomentum) + ", " + number(kBatchNormEps) + ", True)\n";
    s << "    if bn_mode == 0:\n"
      << "        h = torch.batch_norm(h, " << wb << ", None, None, True, " << tail
      << "    else:\n"
      << "        if bn_mode == 1:\n"
      << "            " << running(l.bn_buffers->count) << ".add_(1)\n"
      << "        h = torch.batch_norm(h, " << wb << ", " << running(l.bn_buffers->mean) << ", "
      << running(l.bn_buffers->var) << ", bn_mode == 1, "
      << tail;
  }
  switch (l.spec.activation) {
    case LayerActivation::None: break;
    case LayerActivation::Relu: s << "    h = torch.relu(h)\n"; break;
    case LayerActivation::Tanh: s << "    h = torch.tanh(h)\n"; break;
    case LayerActivation::LeakyRelu: s << "    h = torch.leaky_relu(h, " << number(l.spec.negative_slope) << ")\n"; break;
    case LayerActivation::Elu: s << "    h = torch.elu(h)\n"; break;
    case LayerActivation::Gelu: s << "    h = torch.gelu(h)\n"; break;
    case LayerActivation::GeluTanh: s << "    h = torch.gelu(h, approximate=\"tanh\")\n"; break;
    case LayerActivation::Silu: s << "    h = torch.silu(h)\n"; break;
  }
  return s.str();
}

}  // namespace

std::string torchscript_source(const VaeConfig& c) {
  const ParamLayout layout(c);
  std::ostringstream s;
  s << "def vae_losses(params: List[Tensor], x: Tensor, eps: Tensor, running: List[Tensor], bn_mode: int)"
       " -> Tuple[Tensor, Tensor]:\n";
  s << "    h = x\n";
  bool spatial = false;  // whether h is [N, C, H, W] here
  for (const DerivedLayer& l : layout.model().layers())
    if (l.role == LayerRole::Encoder) {
      s << layer_lines(l, spatial);
      spatial = !l.out_flat;
    }
  if (spatial) s << "    h = h.flatten(1)\n";
  for (const DerivedLayer& l : layout.model().layers())
    if (l.role == LayerRole::Head)
      s << "    " << (l.index == 0 ? "mu" : "logvar") << " = torch.linear(h, " << param(l.weight) << ", "
        << param(l.bias) << ").to(eps.dtype)\n";  // fp32 under autocast, as vae_math's heads
  s << "    z = mu.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * eps\n";
  s << "    h = z\n";
  spatial = false;
  for (const DerivedLayer& l : layout.model().layers())
    if (l.role == LayerRole::Decoder || l.role == LayerRole::Output) {
      s << layer_lines(l, spatial);
      spatial = !l.out_flat;
    }
  if (layout.is_mlp())
    s << "    logits = h.to(eps.dtype)\n";
  else
    s << "    logits = h.reshape([eps.size(0), eps.size(1), " << c.input_dim << "]).to(eps.dtype)\n";
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
                                  const torch::Tensor& eps, BatchNormMode bn) override {
    const int64_t mode = running_.empty() || bn == BatchNormMode::BatchStats ? 0
                         : bn == BatchNormMode::BatchStatsUpdate             ? 1
                                                                             : 2;
    const auto out =
        (*function_)({c10::List<torch::Tensor>(params), x, eps, c10::List<torch::Tensor>(running_), mode}).toTuple();
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
