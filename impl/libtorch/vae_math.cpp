#include "libtorch/vae_math.h"

#include <cmath>

#include "libtorch/vml_dispatch.h"

namespace vae::libtorch {

namespace F = torch::nn::functional;

namespace {

std::pair<torch::Tensor, torch::Tensor> linear_view(const LinearLayer& l, const torch::Tensor& flat) {
  return {flat.narrow(0, int64_t(l.weight_offset), int64_t(l.out) * l.in).view({l.out, l.in}),
          flat.narrow(0, int64_t(l.bias_offset), l.out)};
}

torch::Tensor act(Activation a, const torch::Tensor& t) {
  return a == Activation::Relu ? torch::relu(t) : torch::tanh(t);
}

struct Encoded {
  torch::Tensor mu, logvar, z;  // z: [K, B, Z]
};

Encoded encode(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x, const torch::Tensor& eps) {
  const Encoding q = libtorch::encode(c, p, x);
  return {q.mu, q.logvar, q.mu.unsqueeze(0) + torch::exp(0.5 * q.logvar).unsqueeze(0) * eps};
}

torch::Tensor decode(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& z) {
  torch::Tensor h = z;
  for (const auto& [w, b] : p.decoder_hidden) h = act(c.activation, torch::nn::functional::linear(h, w, b));
  return torch::nn::functional::linear(h, p.out.first, p.out.second);  // [K, B, D] logits
}

// -log p(x|z) per (k, b), summed over pixels: [K, B]
torch::Tensor reconstruction_nll(const VaeConfig& c, const torch::Tensor& logits, const torch::Tensor& x) {
  const torch::Tensor target = x.unsqueeze(0).expand_as(logits);
  if (c.likelihood == Likelihood::Bernoulli)
    return F::binary_cross_entropy_with_logits(
               logits, target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
        .sum(-1);
  const double half_log_2pi = 0.5 * std::log(2.0 * M_PI);
  return (0.5 * (target - torch::sigmoid(logits)).square() + half_log_2pi).sum(-1);
}

}  // namespace

Encoding encode(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x) {
  torch::Tensor h = x;
  for (const auto& [w, b] : p.encoder_hidden) h = act(c.activation, torch::nn::functional::linear(h, w, b));
  return {torch::nn::functional::linear(h, p.mu.first, p.mu.second),
          torch::nn::functional::linear(h, p.logvar.first, p.logvar.second)};
}

torch::Tensor decode_logits(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& z) { return decode(c, p, z); }

ParamTensors view_params(const ParamLayout& layout, const torch::Tensor& flat) {
  resolve_mkl_vml_dispatch();  // every math path outside a backend starts here (vml_dispatch.h)
  TORCH_CHECK(flat.dim() == 1 && flat.numel() == int64_t(layout.total()), "flat parameter tensor must have ",
              layout.total(), " elements, has shape ", flat.sizes());
  ParamTensors p;
  for (const LinearLayer& l : layout.encoder_hidden()) p.encoder_hidden.push_back(linear_view(l, flat));
  for (const LinearLayer& l : layout.decoder_hidden()) p.decoder_hidden.push_back(linear_view(l, flat));
  p.mu = linear_view(layout.mu(), flat);
  p.logvar = linear_view(layout.logvar(), flat);
  p.out = linear_view(layout.out(), flat);
  return p;
}

size_t view_index(const ParamLayout& layout, size_t offset) {
  const auto& views = layout.views();
  for (size_t i = 0; i < views.size(); ++i)
    if (views[i].offset == offset) return i;
  throw std::invalid_argument("no parameter view starts at offset " + std::to_string(offset));
}

ParamTensors params_from_views(const ParamLayout& layout, const std::vector<torch::Tensor>& views) {
  TORCH_CHECK(views.size() == layout.views().size(), "expected ", layout.views().size(), " parameter tensors, got ",
              views.size());
  const auto pair = [&](const LinearLayer& l) {
    return std::make_pair(views[view_index(layout, l.weight_offset)], views[view_index(layout, l.bias_offset)]);
  };
  ParamTensors p;
  for (const LinearLayer& l : layout.encoder_hidden()) p.encoder_hidden.push_back(pair(l));
  for (const LinearLayer& l : layout.decoder_hidden()) p.decoder_hidden.push_back(pair(l));
  p.mu = pair(layout.mu());
  p.logvar = pair(layout.logvar());
  p.out = pair(layout.out());
  return p;
}

Losses forward(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x, const torch::Tensor& eps,
               Encoding* encoding) {
  const Encoded e = encode(c, p, x, eps);
  if (encoding) *encoding = {e.mu, e.logvar};
  Losses l;
  l.recon = reconstruction_nll(c, decode(c, p, e.z), x).mean(0);
  l.kl = -0.5 * (1 + e.logvar - e.mu.square() - e.logvar.exp()).sum(-1);
  l.loss = l.recon + c.beta * l.kl;
  l.elbo = -(l.recon + l.kl);
  return l;
}

torch::Tensor iw_log_likelihood(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x,
                                const torch::Tensor& eps) {
  const Encoded e = encode(c, p, x, eps);
  const double half_log_2pi = 0.5 * std::log(2.0 * M_PI);
  const torch::Tensor log_px_z = -reconstruction_nll(c, decode(c, p, e.z), x);               // [S, B]
  const torch::Tensor log_pz = (-0.5 * e.z.square() - half_log_2pi).sum(-1);                // [S, B]
  const torch::Tensor log_qz = (-0.5 * eps.square() - 0.5 * e.logvar.unsqueeze(0) - half_log_2pi).sum(-1);
  const torch::Tensor log_w = log_px_z + log_pz - log_qz;
  return torch::logsumexp(log_w, 0) - std::log(double(eps.size(0)));
}

}  // namespace vae::libtorch
