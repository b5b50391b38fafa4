#pragma once
// A VAE written the way public PyTorch code writes it -- nn.functional layers, autograd, the loss
// in a few lines -- in LibTorch, with one known mistake switched on by its catalogue name
// (validation/diagnosis.h), or none. It is ours, written for the tests; no line is copied. It
// walks the model description (model/layers.h) for the architecture only; the math is its own
// (not libtorch/vae_math.h, not the reference). Each `mistake ==` branch is the line a public
// bug report shows; the class of report is named beside it.
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "backend/backend.h"
#include "cases.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae::testing {

struct MistakenOutputs {
  BatchLosses losses;
  std::vector<double> grad;     // flat layout
  std::vector<double> running;  // batch norm's running statistics after the forward (empty: none)
};

inline std::vector<double> doubles(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

inline MistakenOutputs run_mistaken_vae(const ValidationCase& c, const CaseInputs& in, torch::Dtype dtype,
                                        const std::string& mistake) {
  namespace F = torch::nn::functional;
  const VaeConfig& cfg = c.config;
  const Objective& obj = cfg.objective;
  const ParamLayout layout(cfg);
  const ModelLayers& model = layout.model();
  const auto opts = torch::TensorOptions().dtype(dtype);
  const auto from = [&](const double* p, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return torch::from_blob(const_cast<double*>(p), {n}, torch::kFloat64).clone().to(dtype).reshape(shape);
  };
  std::vector<torch::Tensor> params;
  for (const ParamView& v : layout.views()) params.push_back(from(in.params.data() + v.offset, v.shape).requires_grad_());
  std::vector<torch::Tensor> running;
  const std::vector<double> initial = model.buffers().initial_values();
  for (const BufferView& b : model.buffers().views()) running.push_back(from(initial.data() + b.offset, b.shape));

  const int64_t B = c.batch, K = cfg.samples, Z = cfg.latent, D = cfg.input_dim;
  const torch::Tensor x = from(in.x.data(), {B, D});
  torch::Tensor eps = from(in.eps.data(), {K, B, Z});
  if (mistake == "noise-ignored") eps = torch::zeros_like(eps);                            // z = mu "for stability"
  if (mistake == "noise-shared-across-batch") eps = eps.narrow(1, 0, 1).expand({K, B, Z});  // randn(Z) not randn(B, Z)
  if (mistake == "noise-shared-across-samples") eps = eps.narrow(0, 0, 1).expand({K, B, Z});
  const bool training = mistake != "batch-norm-eval-mode";  // model.eval() left on while training

  const auto layer = [&](const DerivedLayer& l, torch::Tensor h) {
    const torch::Tensor &w = params[l.weight], &bias = params[l.bias];
    if (l.spec.kind == LayerKind::Dense) {
      h = F::linear(h.dim() == 4 ? h.flatten(1) : h, w, bias);
      if (l.spec.reshape) {
        const Shape& s = *l.spec.reshape;
        if (mistake == "decoder-reshape-channels-last" && l.role == LayerRole::Decoder)  // NHWC habits from Keras
          h = h.view({-1, s.h, s.w, s.c}).permute({0, 3, 1, 2});
        else
          h = h.view({-1, s.c, s.h, s.w});
      }
    } else {
      if (h.dim() != 4) h = h.view({-1, l.in.c, l.in.h, l.in.w});
      const int64_t st = l.spec.stride, pad = l.spec.padding;
      h = l.spec.kind == LayerKind::Conv2d
              ? torch::conv2d(h, w, bias, {st, st}, {pad, pad})
              : torch::conv_transpose2d(h, w, bias, {st, st}, {pad, pad}, {l.spec.output_padding, l.spec.output_padding});
    }
    if (l.bn_weight) {
      h = torch::batch_norm(h, params[*l.bn_weight], params[*l.bn_bias], running[l.bn_buffers->mean],
                            running[l.bn_buffers->var], training, kBatchNormMomentum, kBatchNormEps, false);
      if (training) running[l.bn_buffers->count] += 1;  // nn.BatchNorm2d's num_batches_tracked
    }
    if (l.spec.activation == LayerActivation::Relu) h = torch::relu(h);
    if (l.spec.activation == LayerActivation::Tanh) h = torch::tanh(h);
    return h;
  };

  // Encoder and heads.
  torch::Tensor h = x;
  torch::Tensor mu, logvar;
  for (const DerivedLayer& l : model.layers()) {
    if (l.role == LayerRole::Encoder) h = layer(l, h);
    if (l.role == LayerRole::Head) {
      const torch::Tensor flat = h.dim() == 4 ? h.flatten(1) : h;
      (l.index == 0 ? mu : logvar) = F::linear(flat, params[l.weight], params[l.bias]);
    }
  }
  if (mistake == "relu-on-logvar") logvar = torch::relu(logvar);  // "logvar must be positive"
  torch::Tensor std = torch::exp(0.5 * logvar);
  if (mistake == "std-exp-logvar" || mistake == "logvar-as-log-sigma") std = torch::exp(logvar);
  if (mistake == "logvar-as-sigma") std = logvar;  // the head named sigma in one place, logvar in another
  const torch::Tensor z = mu.unsqueeze(0) + std.unsqueeze(0) * eps;  // [K, B, Z]

  // Decoder.
  h = z.reshape({K * B, Z});
  for (const DerivedLayer& l : model.layers())
    if (l.role == LayerRole::Decoder || l.role == LayerRole::Output) h = layer(l, h);
  torch::Tensor o = h.reshape({K, B, D});
  if (mistake == "sigmoid-twice") o = torch::sigmoid(o);  // a Sigmoid() output fed to BCEWithLogitsLoss
  const torch::Tensor target = x.unsqueeze(0).expand({K, B, D});

  // The likelihood per pixel, as declared.
  torch::Tensor nll;
  if (cfg.likelihood == Likelihood::Gaussian) {
    bool half = obj.gaussian_half, constant = obj.gaussian_constant;
    if (mistake == "gaussian-half-missing") half = false;  // F.mse_loss for 0.5 * squared error
    if (mistake == "gaussian-half-added") half = true;
    if (mistake == "gaussian-constant-missing") constant = false;  // "the constant does not matter"
    if (mistake == "gaussian-constant-added") constant = true;
    nll = (half ? 0.5 : 1.0) * (target - torch::sigmoid(o)).square() / (obj.sigma * obj.sigma);
    if (constant) nll = nll + (std::log(obj.sigma) + 0.5 * std::log(2 * M_PI));
  } else if (cfg.likelihood == Likelihood::Bernoulli && obj.bernoulli_input == BernoulliInput::Logits) {
    nll = F::binary_cross_entropy_with_logits(o, target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
  } else {
    torch::Tensor p = torch::sigmoid(o);
    if (obj.clamp > 0) p = p.clamp(obj.clamp, 1 - obj.clamp);
    nll = F::binary_cross_entropy(p, target, F::BinaryCrossEntropyFuncOptions().reduction(torch::kNone));
    if (cfg.likelihood == Likelihood::ContinuousBernoulli) {
      // log C(p) as torch.distributions.ContinuousBernoulli computes it (its Taylor window).
      const torch::Tensor out = (p <= 0.499).logical_or(p >= 0.501);
      const torch::Tensor q = torch::where(out, p, torch::full_like(p, 0.499));
      const torch::Tensor exact =
          torch::log(torch::abs(torch::log1p(-q) - torch::log(q))) -
          torch::where(q <= 0.5, torch::log1p(-2 * q), torch::log(2 * q - 1));
      const torch::Tensor t = (p - 0.5).square();
      nll = nll - torch::where(out, exact, std::log(2.0) + (4.0 / 3 + 104.0 / 45 * t) * t);
    }
  }
  bool pixel_mean = obj.pixels == Reduction::Mean;
  if (mistake == "pixel-mean-for-sum") pixel_mean = true;  // F.mse_loss's default reduction
  if (mistake == "pixel-sum-for-mean") pixel_mean = false;
  const torch::Tensor recon = (pixel_mean ? nll.mean(-1) : nll.sum(-1)).mean(0);  // [B]

  torch::Tensor lv = mistake == "logvar-as-log-sigma" ? 2 * logvar : logvar;
  const torch::Tensor kl_terms = -0.5 * (1 + lv - mu.pow(2) - lv.exp());
  torch::Tensor kl = kl_terms.sum(-1);
  if (mistake == "kl-mean-over-latent") kl = kl_terms.mean(-1);            // torch.mean(...) over [B, Z]'s last dim
  if (mistake == "kl-of-batch-per-image") kl = kl_terms.sum().expand({B});  // torch.sum over the whole tensor
  if (mistake == "kl-sign-flipped") kl = 0.5 * (1 + lv - mu.pow(2) - lv.exp()).sum(-1);
  double beta = cfg.beta, w = obj.kl_weight_for(c.batch);
  if (mistake == "beta-missing") beta = 1;
  if (mistake == "beta-twice") beta = cfg.beta * cfg.beta;
  if (mistake == "kl-weight-missing") w = 1;
  torch::Tensor kl_in_loss = kl, recon_in_loss = recon;
  if (mistake == "gradient-of-recon-only") kl_in_loss = kl.detach();  // the KL computed under no_grad
  if (mistake == "gradient-of-kl-only") recon_in_loss = recon.detach();
  const torch::Tensor loss = recon_in_loss + beta * w * kl_in_loss;
  bool batch_mean = obj.batch == Reduction::Mean;
  if (mistake == "batch-mean-for-sum") batch_mean = true;  // loss.mean() "to be independent of the batch size"
  if (mistake == "batch-sum-for-mean") batch_mean = false;
  const torch::Tensor total = batch_mean ? loss.mean() : loss.sum();
  const std::vector<torch::Tensor> grads = torch::autograd::grad({total}, params, {}, false, false, /*allow_unused=*/true);

  MistakenOutputs r;
  r.losses = {doubles(recon), doubles(kl), doubles(loss), doubles(-(recon + kl))};
  for (size_t i = 0; i < grads.size(); ++i) {
    const std::vector<double> g = grads[i].defined() ? doubles(grads[i]) : std::vector<double>(layout.views()[i].size, 0.0);
    r.grad.insert(r.grad.end(), g.begin(), g.end());
  }
  for (const torch::Tensor& t : running) {
    const std::vector<double> v = doubles(t);
    r.running.insert(r.running.end(), v.begin(), v.end());
  }
  return r;
}

}  // namespace vae::testing
