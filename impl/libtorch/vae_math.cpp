#include "libtorch/vae_math.h"

#include <cmath>

#include "libtorch/autocast.h"
#include "libtorch/vml_dispatch.h"
#include "model/layers.h"

namespace vae::libtorch {

namespace F = torch::nn::functional;

namespace {

torch::Tensor act(const LayerSpec& l, const torch::Tensor& t) {
  switch (l.activation) {
    case LayerActivation::None: return t;
    case LayerActivation::Relu: return torch::relu(t);
    case LayerActivation::Tanh: return torch::tanh(t);
    case LayerActivation::LeakyRelu: return torch::leaky_relu(t, l.negative_slope);
    case LayerActivation::Elu: return torch::elu(t);
    case LayerActivation::Gelu: return torch::gelu(t);
    case LayerActivation::GeluTanh: return torch::gelu(t, "tanh");
    case LayerActivation::Silu: return torch::silu(t);
  }
  throw std::logic_error("unhandled activation");
}

// One layer on h: [..., F] flat (the input x [B, D], latent codes [K, B, Z], a dense layer's
// output) or [N, C, H, W] (a conv layer's, a dense layer's reshaped). Dense layers act on the
// last dimension of a flat h (flattening a 4-D one per image first), so an MLP runs exactly
// today's ops; a conv layer views a flat h as [N, C, H, W] in the shape the model derived.
torch::Tensor apply_layer(const DerivedLayer& l, const ParamTensors& p, torch::Tensor h, const BatchNormState& bn) {
  const torch::Tensor& w = p.views[l.weight];
  const torch::Tensor& b = p.views[l.bias];
  if (l.spec.kind == LayerKind::Dense) {
    if (h.dim() == 4) h = h.flatten(1);
    h = F::linear(h, w, b);
    if (l.spec.reshape) h = h.reshape({-1, l.spec.reshape->c, l.spec.reshape->h, l.spec.reshape->w});
  } else {
    if (h.dim() != 4) h = h.reshape({-1, l.in.c, l.in.h, l.in.w});
    const std::vector<int64_t> stride{l.spec.stride, l.spec.stride}, padding{l.spec.padding, l.spec.padding};
    if (l.spec.kind == LayerKind::Conv2d)
      h = torch::conv2d(h, w, b, stride, padding);
    else
      h = torch::conv_transpose2d(h, w, b, stride, padding, {l.spec.output_padding, l.spec.output_padding});
  }
  if (l.bn_weight) {
    torch::Tensor mean, var;
    if (!bn.running.empty()) {
      mean = bn.running.at(l.bn_buffers->mean);
      var = bn.running.at(l.bn_buffers->var);
      if (!bn.evaluate) {
        torch::NoGradGuard no_grad;
        bn.running.at(l.bn_buffers->count).add_(1);  // nn.BatchNorm2d's num_batches_tracked
      }
    }
    h = torch::batch_norm(h, p.views[*l.bn_weight], p.views[*l.bn_bias], mean, var, /*training=*/!bn.evaluate,
                          kBatchNormMomentum, kBatchNormEps, /*cudnn_enabled=*/true);
  }
  return act(l.spec, h);
}

// The encoder body's output, flat per image: [B, F].
torch::Tensor encoder_body(const ParamTensors& p, const torch::Tensor& x, const BatchNormState& bn) {
  torch::Tensor h = x;
  for (const DerivedLayer& l : p.layout->model().layers())
    if (l.role == LayerRole::Encoder) h = apply_layer(l, p, h, bn);
  return h.dim() == 4 ? h.flatten(1) : h;
}

struct Encoded {
  torch::Tensor mu, logvar, z;  // z: [K, B, Z]
};

Encoded encode(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x, const torch::Tensor& eps,
               const BatchNormState& bn) {
  const Encoding q = libtorch::encode(c, p, x, bn);
  return {q.mu, q.logvar, q.mu.unsqueeze(0) + torch::exp(0.5 * q.logvar).unsqueeze(0) * eps};
}

// Logits [..., D] for z [..., Z] (the decoder runs on the leading dimensions' product).
torch::Tensor decode(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& z, const BatchNormState& bn) {
  torch::Tensor h = z;
  for (const DerivedLayer& l : p.layout->model().layers())
    if (l.role == LayerRole::Decoder || l.role == LayerRole::Output) h = apply_layer(l, p, h, bn);
  std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 1);
  shape.push_back(c.input_dim);
  // An MLP's is already [..., D]: a view, no copy. Under autocast the logits come in bf16; the
  // likelihood is computed from them in fp32 (autocast's recipe: BCE with logits in fp32).
  return in_master_dtype(h.reshape(shape), p.views.front());
}

// The continuous Bernoulli's log C(p) as torch.distributions.ContinuousBernoulli computes it:
// exact outside (0.499, 0.501), Taylor-expanded inside (reference/pixel_loss.h).
torch::Tensor continuous_bernoulli_log_norm(const torch::Tensor& p) {
  const torch::Tensor outside = (p <= 0.499).logical_or(p >= 0.501);
  const torch::Tensor cut = torch::where(outside, p, torch::full_like(p, 0.499));
  const torch::Tensor exact = torch::log(torch::abs(torch::log1p(-cut) - torch::log(cut))) -
                              torch::where(cut <= 0.5, torch::log1p(-2.0 * cut), torch::log(2.0 * cut - 1.0));
  const torch::Tensor t = (p - 0.5).square();
  const torch::Tensor taylor = std::log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * t) * t;
  return torch::where(outside, exact, taylor);
}

// -log p(x|z) per (k, b), summed (or, pixels "mean", averaged) over pixels: [K, B]. The
// objective's forms (model/objective.h), as PyTorch code writes them.
torch::Tensor reconstruction_nll(const VaeConfig& c, const torch::Tensor& logits, const torch::Tensor& x) {
  const Objective& o = c.objective;
  const torch::Tensor target = x.unsqueeze(0).expand_as(logits);
  torch::Tensor nll;
  if (c.likelihood == Likelihood::Bernoulli && o.bernoulli_input == BernoulliInput::Logits) {
    nll = F::binary_cross_entropy_with_logits(logits, target,
                                              F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
  } else if (c.likelihood == Likelihood::Gaussian) {
    const double h = o.gaussian_half ? 0.5 : 1.0;
    nll = (h / (o.sigma * o.sigma)) * (target - torch::sigmoid(logits)).square();
    if (o.gaussian_constant) nll = nll + (std::log(o.sigma) + 0.5 * std::log(2.0 * M_PI));
  } else {
    torch::Tensor p = torch::sigmoid(logits);
    if (o.clamp > 0) p = torch::clamp(p, o.clamp, 1.0 - o.clamp);
    nll = F::binary_cross_entropy(p, target, F::BinaryCrossEntropyFuncOptions().reduction(torch::kNone));
    if (c.likelihood == Likelihood::ContinuousBernoulli) nll = nll - continuous_bernoulli_log_norm(p);
  }
  return o.pixels == Reduction::Mean ? nll.mean(-1) : nll.sum(-1);
}

}  // namespace

Encoding encode(const VaeConfig&, const ParamTensors& p, const torch::Tensor& x, const BatchNormState& bn) {
  const torch::Tensor h = encoder_body(p, x, bn);
  const auto head = [&](int index) {
    for (const DerivedLayer& l : p.layout->model().layers())
      if (l.role == LayerRole::Head && l.index == index)  // in fp32 under autocast: exp and KL need it
        return in_master_dtype(F::linear(h, p.views[l.weight], p.views[l.bias]), p.views[l.weight]);
    throw std::logic_error("the model has no head " + std::to_string(index));
  };
  return {head(0), head(1)};
}

torch::Tensor decode_logits(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& z,
                            const BatchNormState& bn) {
  return decode(c, p, z, bn);
}

ParamTensors view_params(const ParamLayout& layout, const torch::Tensor& flat) {
  resolve_mkl_vml_dispatch();  // every math path outside a backend starts here (vml_dispatch.h)
  TORCH_CHECK(flat.dim() == 1 && flat.numel() == int64_t(layout.total()), "flat parameter tensor must have ",
              layout.total(), " elements, has shape ", flat.sizes());
  ParamTensors p{&layout, {}};
  for (const ParamView& v : layout.views())
    p.views.push_back(flat.narrow(0, int64_t(v.offset), int64_t(v.size)).view(v.shape));
  return p;
}

std::vector<torch::Tensor> split_buffers(const BufferLayout& buffers, const torch::Tensor& flat) {
  TORCH_CHECK(flat.dim() == 1 && flat.numel() == int64_t(buffers.total()), "flat buffer tensor must have ",
              buffers.total(), " elements, has shape ", flat.sizes());
  std::vector<torch::Tensor> out;
  for (const BufferView& b : buffers.views())
    out.push_back(flat.narrow(0, int64_t(b.offset), int64_t(b.size)).reshape(b.shape).clone());
  return out;
}

torch::Tensor join_buffers(const std::vector<torch::Tensor>& running) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : running) flat.push_back(t.detach().reshape({-1}));
  return flat.empty() ? torch::Tensor() : torch::cat(flat);
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
  return {&layout, views};
}

Losses forward(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x, const torch::Tensor& eps,
               Encoding* encoding, const BatchNormState& bn) {
  const Encoded e = encode(c, p, x, eps, bn);
  if (encoding) *encoding = {e.mu, e.logvar};
  Losses l;
  l.recon = reconstruction_nll(c, decode(c, p, e.z, bn), x).mean(0);
  l.kl = -0.5 * (1 + e.logvar - e.mu.square() - e.logvar.exp()).sum(-1);
  l.loss = l.recon + c.kl_coefficient(int(x.size(0))) * l.kl;
  l.elbo = -(l.recon + l.kl);
  return l;
}

torch::Tensor batch_objective(const VaeConfig& c, const torch::Tensor& loss) {
  return c.objective.batch == Reduction::Mean ? loss.mean() : loss.sum();
}

torch::Tensor iw_log_likelihood(const VaeConfig& c, const ParamTensors& p, const torch::Tensor& x,
                                const torch::Tensor& eps, const BatchNormState& bn) {
  TORCH_CHECK(c.default_objective(),
              "the importance-weighted NLL is defined for the default objective's Bernoulli and Gaussian likelihoods");
  const Encoded e = encode(c, p, x, eps, bn);
  const double half_log_2pi = 0.5 * std::log(2.0 * M_PI);
  const torch::Tensor log_px_z = -reconstruction_nll(c, decode(c, p, e.z, bn), x);               // [S, B]
  const torch::Tensor log_pz = (-0.5 * e.z.square() - half_log_2pi).sum(-1);                // [S, B]
  const torch::Tensor log_qz = (-0.5 * eps.square() - 0.5 * e.logvar.unsqueeze(0) - half_log_2pi).sum(-1);
  const torch::Tensor log_w = log_px_z + log_pz - log_qz;
  return torch::logsumexp(log_w, 0) - std::log(double(eps.size(0)));
}

}  // namespace vae::libtorch
