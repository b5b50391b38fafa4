#include "vae_reference.h"

#include <cmath>

#include "common/error.h"
#include "conv_layers.h"
#include "pixel_loss.h"
#include "model/layers.h"

namespace vae::ref {

namespace {

using ConstMap = Eigen::Map<const Matrix>;
using ConstRowMap = Eigen::Map<const Eigen::RowVectorXd>;
using RowMap = Eigen::Map<Eigen::RowVectorXd>;
using MatMap = Eigen::Map<Matrix>;

ConstMap weight(const std::vector<double>& p, const LinearLayer& l) {
  return ConstMap(p.data() + l.weight_offset, l.out, l.in);
}
ConstRowMap bias(const std::vector<double>& p, const LinearLayer& l) {
  return ConstRowMap(p.data() + l.bias_offset, l.out);
}

// y = a W^T + b
Matrix affine(const std::vector<double>& p, const LinearLayer& l, const Matrix& a) {
  Matrix y = a * weight(p, l).transpose();
  y.rowwise() += bias(p, l);
  return y;
}

// GELU's tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as nn.GELU(approximate="tanh").
constexpr double kSqrt2OverPi = 0.79788456080286535588, kGeluCubic = 0.044715;

// The activation, as PyTorch defines it (model/layers.h).
void activate(const LayerSpec& l, Matrix& m) {
  const double slope = l.negative_slope;
  switch (l.activation) {
    case LayerActivation::None: return;
    case LayerActivation::Relu: m = m.cwiseMax(0.0); return;
    case LayerActivation::Tanh: m = m.array().tanh().matrix(); return;
    case LayerActivation::LeakyRelu: m = m.unaryExpr([slope](double x) { return x > 0 ? x : slope * x; }); return;
    case LayerActivation::Elu: m = m.unaryExpr([](double x) { return x > 0 ? x : std::expm1(x); }); return;
    case LayerActivation::Gelu: m = m.unaryExpr([](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }); return;
    case LayerActivation::GeluTanh:
      m = m.unaryExpr([](double x) { return 0.5 * x * (1 + std::tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x))); });
      return;
    case LayerActivation::Silu: m = m.unaryExpr([](double x) { return x * sigmoid(x); }); return;
  }
}

// grad *= d(act)/d(in), from the activation's output a or, where it needs it
// (derivative_needs_input), its input x. ReLU: [a > 0] (0 at 0, as PyTorch); tanh: 1 - a^2;
// LeakyReLU: 1 where a > 0, else the slope (PyTorch's at 0); ELU: 1 where a > 0, else a + 1
// (= e^x); GELU: Phi(x) + x phi(x); its tanh form: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi)
// (1 + 3 c x^2), t = tanh(sqrt(2/pi) (x + c x^3)), c = 0.044715; SiLU: s (1 + x (1 - s)), s = sigmoid(x).
void scale_by_activation_derivative(const LayerSpec& l, const Matrix& a, const Matrix& x, Matrix& grad) {
  const double slope = l.negative_slope;
  switch (l.activation) {
    case LayerActivation::None: return;
    case LayerActivation::Relu: grad = (a.array() > 0.0).select(grad, 0.0); return;
    case LayerActivation::Tanh: grad = grad.array() * (1.0 - a.array().square()); return;
    case LayerActivation::LeakyRelu: grad = (a.array() > 0.0).select(grad, slope * grad); return;
    case LayerActivation::Elu: grad = (a.array() > 0.0).select(grad, grad.array() * (a.array() + 1.0)); return;
    case LayerActivation::Gelu:
      grad = grad.array() * x.unaryExpr([](double v) {
        return 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
      }).array();
      return;
    case LayerActivation::GeluTanh:
      grad = grad.array() * x.unaryExpr([](double v) {
        const double t = std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * kSqrt2OverPi * (1 + 3 * kGeluCubic * v * v);
      }).array();
      return;
    case LayerActivation::Silu:
      grad = grad.array() * x.unaryExpr([](double v) {
        const double s = sigmoid(v);
        return s * (1 + v * (1 - s));
      }).array();
      return;
  }
}

// A dense layer of the model as offsets into the flat buffer.
LinearLayer linear(const ParamLayout& layout, const DerivedLayer& l) {
  return {l.prefix, int(l.in.numel()), l.spec.out, layout.views()[l.weight].offset, layout.views()[l.bias].offset};
}

// Row r of the [K*B, D] decoder output belongs to image r % B; pixels summed (times `pixel_factor`).
Eigen::VectorXd per_row_nll(const PixelLoss& loss, const Matrix& o, const Matrix& x, double pixel_factor) {
  const Eigen::Index batch = x.rows();
  Eigen::VectorXd nll(o.rows());
  for (Eigen::Index r = 0; r < o.rows(); ++r) {
    double s = 0.0;
    for (Eigen::Index d = 0; d < o.cols(); ++d) s += loss.nll(o(r, d), x(r % batch, d));
    nll(r) = pixel_factor * s;
  }
  return nll;
}

// A decoder layer whose dense output is viewed as a shape with channels (the mistake
// decoder_reshape_channels_last permutes it).
bool reshapes_to_channels(const DerivedLayer& l) {
  return l.role == LayerRole::Decoder && l.spec.kind == LayerKind::Dense && l.spec.reshape && l.spec.reshape->c > 1;
}

// Rows of C*H*W values: to_chw reads each row as H x W x C and writes it as C x H x W (what
// `h.view(B, H, W, C).permute(0, 3, 1, 2)` gives); !to_chw is the inverse.
Matrix permute_channels(const Matrix& m, const Shape& s, bool to_chw) {
  Matrix r(m.rows(), m.cols());
  for (Eigen::Index row = 0; row < m.rows(); ++row)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t y = 0; y < s.h; ++y)
        for (int64_t x = 0; x < s.w; ++x) {
          const Eigen::Index chw = Eigen::Index((c * s.h + y) * s.w + x), hwc = Eigen::Index((y * s.w + x) * s.c + c);
          if (to_chw) r(row, chw) = m(row, hwc);
          else r(row, hwc) = m(row, chw);
        }
  return r;
}

}  // namespace

// One layer of a forward pass: its input, its product (dense or conv, before batch norm) and
// batch-norm statistics, and its output after batch norm and activation. Rows are images (the
// decoder's: K*B samples), each row one image's C*H*W values in NCHW order.
struct VaeReference::LayerPass {
  Matrix in, pre, out;
  Matrix act_in;  // the activation's input, kept where its derivative needs it (gelu, silu)
  BatchNormStats bn;
};

struct VaeReference::Cache {
  std::vector<LayerPass> enc;     // the encoder body, input side first
  Matrix mu, logvar, sigma, eps;  // [B, Z], eps [K*B, Z]
  Matrix head;                    // the log-variance head's output (before a mistaken ReLU)
  Matrix kl_logvar;               // what the KL reads as log sigma^2 (logvar, but for HeadIsLogSigma)
  Matrix z;                       // [K*B, Z]
  std::vector<LayerPass> dec;     // the decoder, its last layer the output
  Matrix out;                     // decoder logits o [K*B, D]
};

bool Deviation::is_spec() const {
  return sampling == Sampling::Spec && !relu_on_logvar && !sigmoid_twice && kl == Kl::Spec &&
         gradient == Gradient::Both && !batch_norm_eval && !decoder_reshape_channels_last;
}

VaeReference::VaeReference(const VaeConfig& config, const Deviation& deviation)
    : config_(config), deviation_(deviation), layout_(config),
      initial_stats_(layout_.model().buffers().initial_values()) {
  config_.validate();
}

PixelLoss VaeReference::pixel_loss() const {
  return PixelLoss{config_.likelihood, config_.objective, deviation_.sigmoid_twice};
}

double VaeReference::kl_factor(Eigen::Index batch, double kl_weight) const {
  return config_.kl_coefficient(int(batch)) * kl_weight;
}

void VaeReference::check(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps,
                         int k) const {
  if (params.size() != layout_.total())
    throw Error("reference: parameter buffer has " + std::to_string(params.size()) + " values, layout needs " +
                std::to_string(layout_.total()));
  if (x.rows() < 1 || x.cols() != config_.input_dim)
    throw Error("reference: x is [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
                "], expected [B >= 1, " + std::to_string(config_.input_dim) + "]");
  const size_t need = size_t(k) * size_t(x.rows()) * size_t(config_.latent);
  if (eps.size() != need)
    throw Error("reference: eps has " + std::to_string(eps.size()) + " values, expected K*B*Z = " +
                std::to_string(need));
}

void VaeReference::layer_forward(const std::vector<double>& p, const DerivedLayer& l, LayerPass& pass,
                                 const BatchNormUse& bn) const {
  const auto& views = layout_.views();
  const Eigen::Index rows = pass.in.rows();
  if (l.spec.kind == LayerKind::Dense) {
    pass.pre = affine(p, linear(layout_, l), pass.in);
  } else {
    pass.pre.resize(rows, l.out.numel());
    conv_forward(conv_geometry(l), int(rows), pass.in.data(), p.data() + views[l.weight].offset,
                 p.data() + views[l.bias].offset, pass.pre.data());
  }
  pass.out = pass.pre;
  if (l.bn_weight) {
    const int channels = int(l.out.c), hw = int(l.out.h * l.out.w);
    const double* gamma = p.data() + views[*l.bn_weight].offset;
    const double* beta = p.data() + views[*l.bn_bias].offset;
    const auto& buffers = layout_.model().buffers().views();
    const BufferView &mean = buffers[l.bn_buffers->mean], &var = buffers[l.bn_buffers->var],
                     &count = buffers[l.bn_buffers->count];
    const std::vector<double>* evaluate = bn.evaluate               ? bn.evaluate
                                          : deviation_.batch_norm_eval ? &initial_stats_
                                                                       : nullptr;
    if (evaluate) {
      batch_norm_eval_forward(int(rows), channels, hw, pass.pre.data(), gamma, beta, evaluate->data() + mean.offset,
                              evaluate->data() + var.offset, kBatchNormEps, pass.out.data());
    } else {
      batch_norm_train_forward(int(rows), channels, hw, pass.pre.data(), gamma, beta, kBatchNormEps, pass.out.data(),
                               pass.bn);
      if (bn.update) {
        batch_norm_update_running(pass.bn, int64_t(rows) * hw, kBatchNormMomentum, bn.update->data() + mean.offset,
                                  bn.update->data() + var.offset);
        (*bn.update)[count.offset] += 1;
      }
    }
  }
  if (derivative_needs_input(l.spec.activation)) pass.act_in = pass.out;
  activate(l.spec, pass.out);
  if (deviation_.decoder_reshape_channels_last && reshapes_to_channels(l))
    pass.out = permute_channels(pass.out, *l.spec.reshape, true);
}

void VaeReference::run_forward(const std::vector<double>& p, const Matrix& x, const std::vector<double>& eps,
                               int k, Cache& c, const BatchNormUse& bn) const {
  const Eigen::Index batch = x.rows(), z_dim = config_.latent;
  const ModelLayers& model = layout_.model();
  c.enc.clear();
  c.dec.clear();
  c.enc.reserve(model.layers().size());  // h points into them: no reallocation while walking
  c.dec.reserve(model.layers().size());
  const Matrix* h = &x;
  for (const DerivedLayer& l : model.layers()) {
    if (l.role != LayerRole::Encoder) continue;
    c.enc.emplace_back();
    c.enc.back().in = *h;
    layer_forward(p, l, c.enc.back(), bn);
    h = &c.enc.back().out;
  }
  c.mu = affine(p, layout_.mu(), *h);
  c.head = affine(p, layout_.logvar(), *h);
  c.logvar = deviation_.relu_on_logvar ? Matrix(c.head.cwiseMax(0.0)) : c.head;
  using Sampling = Deviation::Sampling;
  switch (deviation_.sampling) {
    case Sampling::Spec: c.sigma = (0.5 * c.logvar.array()).exp().matrix(); break;
    case Sampling::StdExpLogvar:
    case Sampling::HeadIsLogSigma: c.sigma = c.logvar.array().exp().matrix(); break;
    case Sampling::HeadIsSigma: c.sigma = c.logvar; break;
  }
  c.kl_logvar = deviation_.sampling == Sampling::HeadIsLogSigma ? Matrix(2.0 * c.logvar) : c.logvar;

  c.eps = ConstMap(eps.data(), k * batch, z_dim);
  c.z.resize(k * batch, z_dim);
  for (int s = 0; s < k; ++s)
    c.z.middleRows(s * batch, batch) = c.mu + c.sigma.cwiseProduct(c.eps.middleRows(s * batch, batch));
  h = &c.z;
  for (const DerivedLayer& l : model.layers()) {
    if (l.role != LayerRole::Decoder && l.role != LayerRole::Output) continue;
    c.dec.emplace_back();
    c.dec.back().in = *h;
    layer_forward(p, l, c.dec.back(), bn);
    h = &c.dec.back().out;
  }
  c.out = c.dec.back().out;
}

Losses VaeReference::losses(const Cache& c, const Matrix& x, double kl_weight) const {
  const int k = config_.samples;
  const Eigen::Index batch = x.rows();
  Losses r;
  const Eigen::VectorXd nll =
      per_row_nll(pixel_loss(), c.out, x, config_.objective.pixel_factor(int(c.out.cols())));
  r.recon = Eigen::VectorXd::Zero(batch);
  for (int s = 0; s < k; ++s) r.recon += nll.segment(s * batch, batch);
  r.recon /= double(k);
  // KL(N(mu, sigma^2) || N(0, 1)) = -0.5 sum_j (1 + logvar - mu^2 - exp(logvar))
  r.kl = -0.5 * (1.0 + c.kl_logvar.array() - c.mu.array().square() - c.kl_logvar.array().exp()).rowwise().sum();
  using Kl = Deviation::Kl;
  if (deviation_.kl == Kl::MeanOverLatent) r.kl /= double(config_.latent);
  else if (deviation_.kl == Kl::BatchPerImage) r.kl.setConstant(r.kl.sum());
  else if (deviation_.kl == Kl::SignFlipped) r.kl = -r.kl;
  r.loss = r.recon + kl_factor(batch, kl_weight) * r.kl;
  r.elbo = -(r.recon + r.kl);
  return r;
}

Losses VaeReference::forward(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps,
                             const std::vector<double>* running_stats) const {
  check(params, x, eps, config_.samples);
  check_running_stats(running_stats);
  Cache c;
  run_forward(params, x, eps, config_.samples, c, {running_stats, nullptr});
  return losses(c, x, 1.0);
}

void VaeReference::check_running_stats(const std::vector<double>* stats) const {
  if (stats && stats->size() != layout_.model().buffers().total())
    throw Error("reference: batch-norm running statistics have " + std::to_string(stats->size()) +
                " values, the model's buffers need " + std::to_string(layout_.model().buffers().total()));
}

Losses VaeReference::forward_backward(const std::vector<double>& p, const Matrix& x,
                                      const std::vector<double>& eps, std::vector<double>& grad,
                                      double kl_weight, std::vector<double>* running_stats) const {
  const int k = config_.samples;
  check(p, x, eps, k);
  check_running_stats(running_stats);
  Cache c;
  run_forward(p, x, eps, k, c, {nullptr, running_stats});
  const Losses result = losses(c, x, kl_weight);
  const Eigen::Index batch = x.rows();
  grad.assign(layout_.total(), 0.0);
  const auto& views = layout_.views();

  // Accumulates dW = dY^T A and db = colsum(dY) for y = a W^T + b, returns dA = dY W.
  auto backprop_affine = [&](const LinearLayer& l, const Matrix& a, const Matrix& dy, bool need_input_grad) {
    MatMap(grad.data() + l.weight_offset, l.out, l.in) += dy.transpose() * a;
    RowMap(grad.data() + l.bias_offset, l.out) += dy.colwise().sum();
    return need_input_grad ? Matrix(dy * weight(p, l)) : Matrix();
  };
  // From the gradient of a layer's output to its input's (empty unless need_input_grad):
  // through the activation, batch norm (batch statistics), then the dense or conv product,
  // adding the layer's parameter gradients to grad.
  auto backprop_layer = [&](const DerivedLayer& l, const LayerPass& pass, Matrix d, bool need_input_grad) {
    scale_by_activation_derivative(l.spec, pass.out, pass.act_in, d);
    if (deviation_.decoder_reshape_channels_last && reshapes_to_channels(l))
      d = permute_channels(d, *l.spec.reshape, false);
    const Eigen::Index rows = pass.in.rows();
    if (l.bn_weight) {
      Matrix d_pre(rows, d.cols());
      const int channels = int(l.out.c), hw = int(l.out.h * l.out.w);
      const double* gamma = p.data() + views[*l.bn_weight].offset;
      double *dgamma = grad.data() + views[*l.bn_weight].offset, *dbeta = grad.data() + views[*l.bn_bias].offset;
      if (deviation_.batch_norm_eval) {
        const auto& buffers = layout_.model().buffers().views();
        batch_norm_eval_backward(int(rows), channels, hw, pass.pre.data(), gamma,
                                 initial_stats_.data() + buffers[l.bn_buffers->mean].offset,
                                 initial_stats_.data() + buffers[l.bn_buffers->var].offset, kBatchNormEps, d.data(),
                                 d_pre.data(), dgamma, dbeta);
      } else {
        batch_norm_train_backward(int(rows), channels, hw, pass.pre.data(), gamma, pass.bn, kBatchNormEps, d.data(),
                                  d_pre.data(), dgamma, dbeta);
      }
      d = std::move(d_pre);
    }
    if (l.spec.kind == LayerKind::Dense) return backprop_affine(linear(layout_, l), pass.in, d, need_input_grad);
    Matrix dx;
    if (need_input_grad) dx.resize(rows, pass.in.cols());
    conv_backward(conv_geometry(l), int(rows), pass.in.data(), p.data() + views[l.weight].offset, d.data(),
                  need_input_grad ? dx.data() : nullptr, grad.data() + views[l.weight].offset,
                  grad.data() + views[l.bias].offset);
    return dx;
  };
  std::vector<const DerivedLayer*> enc_layers, dec_layers;
  for (const DerivedLayer& l : layout_.model().layers())
    if (l.role == LayerRole::Encoder) enc_layers.push_back(&l);
    else if (l.role != LayerRole::Head) dec_layers.push_back(&l);

  // The batch objective weighs every image's loss by 1 (sum) or 1/B (mean); recon_b weighs
  // each of its K samples by 1/K and each pixel by 1 (sum) or 1/D (mean). A mistake may drop
  // one term from the gradient (Deviation::gradient).
  using Gradient = Deviation::Gradient;
  const double image_weight = config_.objective.batch_factor(int(batch));
  const double recon_weight = deviation_.gradient == Gradient::KlOnly
                                  ? 0.0
                                  : image_weight * config_.objective.pixel_factor(int(c.out.cols())) / double(k);
  const PixelLoss pixel = pixel_loss();
  Matrix d_out(c.out.rows(), c.out.cols());
  for (Eigen::Index r = 0; r < c.out.rows(); ++r)
    for (Eigen::Index d = 0; d < c.out.cols(); ++d) d_out(r, d) = recon_weight * pixel.grad(c.out(r, d), x(r % batch, d));

  // Decoder, output layer first.
  Matrix d_act = std::move(d_out);
  for (size_t i = dec_layers.size(); i-- > 0;) d_act = backprop_layer(*dec_layers[i], c.dec[i], std::move(d_act), true);
  const Matrix& d_z = d_act;  // [K*B, Z]

  // z = mu + exp(0.5 logvar) * eps:  dz/dmu = 1,  dz/dlogvar = 0.5 * sigma * eps.
  // KL term (times beta w): dKL/dmu = mu,  dKL/dlogvar = 0.5 (exp(logvar) - 1).
  // Under a mistake: sigma = exp(l) gives dz/dl = sigma eps, sigma = l gives eps; the KL of
  // logvar = 2 l (the head read as log sigma) gives dKL/dl = exp(2 l) - 1; the KL reported per
  // image scales its gradient by 1/Z (a mean over the latent), B (the batch's KL for every
  // image) or -1 (its sign flipped).
  using Sampling = Deviation::Sampling;
  using Kl = Deviation::Kl;
  const double kl_scale = deviation_.kl == Kl::MeanOverLatent  ? 1.0 / double(config_.latent)
                          : deviation_.kl == Kl::BatchPerImage ? double(batch)
                          : deviation_.kl == Kl::SignFlipped   ? -1.0
                                                               : 1.0;
  const double beta = deviation_.gradient == Gradient::ReconOnly
                          ? 0.0
                          : image_weight * kl_factor(batch, kl_weight) * kl_scale;
  Matrix d_mu = beta * c.mu;
  Matrix d_logvar = deviation_.sampling == Sampling::HeadIsLogSigma
                        ? Matrix(beta * ((2.0 * c.logvar.array()).exp() - 1.0).matrix())
                        : Matrix((0.5 * beta) * (c.logvar.array().exp() - 1.0).matrix());
  const double dz_dsigma_scale = deviation_.sampling == Sampling::Spec ? 0.5 : 1.0;
  for (int s = 0; s < k; ++s) {
    const auto dz_s = d_z.middleRows(s * batch, batch);
    d_mu += dz_s;
    const auto eps_s = c.eps.middleRows(s * batch, batch).array();
    if (deviation_.sampling == Sampling::HeadIsSigma) d_logvar.array() += dz_s.array() * eps_s;
    else d_logvar.array() += dz_dsigma_scale * dz_s.array() * c.sigma.array() * eps_s;
  }
  if (deviation_.relu_on_logvar) d_logvar = (c.head.array() > 0.0).select(d_logvar, 0.0);

  // Encoder heads share the body's output; then the body's layers, top first.
  const Matrix& h = c.enc.empty() ? x : c.enc.back().out;
  const bool need = !enc_layers.empty();
  d_act = backprop_affine(layout_.mu(), h, d_mu, need);
  if (need) d_act += backprop_affine(layout_.logvar(), h, d_logvar, true);
  else backprop_affine(layout_.logvar(), h, d_logvar, false);
  for (size_t i = enc_layers.size(); i-- > 0;)
    d_act = backprop_layer(*enc_layers[i], c.enc[i], std::move(d_act), i > 0);  // no gradient wrt x
  return result;
}

Eigen::VectorXd VaeReference::differentiated_terms(const Losses& l) const {
  const double factor = config_.objective.batch_factor(int(l.loss.size()));
  switch (deviation_.gradient) {
    case Deviation::Gradient::ReconOnly: return factor * l.recon;
    case Deviation::Gradient::KlOnly: return factor * (l.loss - l.recon);
    case Deviation::Gradient::Both: break;
  }
  return factor * l.loss;
}

double log_mean_exp(const Eigen::Ref<const Eigen::VectorXd>& v) {
  const double m = v.maxCoeff();
  if (!std::isfinite(m)) return m;  // all -inf (or a +inf/NaN): nothing to stabilise
  return m + std::log((v.array() - m).exp().sum() / double(v.size()));
}

Eigen::VectorXd VaeReference::iw_log_likelihood(const std::vector<double>& p, const Matrix& x,
                                                const std::vector<double>& eps, int num_samples) const {
  if (num_samples < 1) throw Error("reference: importance sampling needs at least 1 sample");
  if (!config_.default_objective() || !deviation_.is_spec())
    throw Error("reference: the importance-weighted NLL is defined for the default objective's Bernoulli and Gaussian "
                "likelihoods only, not for " + config_.summary());
  check(p, x, eps, num_samples);
  Cache c;
  run_forward(p, x, eps, num_samples, c, {});
  const Eigen::Index batch = x.rows();
  const Eigen::VectorXd nll = per_row_nll(pixel_loss(), c.out, x, 1.0);
  const Eigen::VectorXd half_logvar_sum = 0.5 * c.logvar.rowwise().sum();

  // log w = log p(x|z) + log p(z) - log q(z|x). With z = mu + sigma eps:
  //   log p(z)   = sum_j -0.5 z_j^2 - 0.5 log 2pi
  //   log q(z|x) = sum_j -0.5 eps_j^2 - 0.5 logvar_j - 0.5 log 2pi
  // The log 2pi terms cancel exactly, so they are left out of both.
  Matrix log_w(batch, num_samples);
  for (int s = 0; s < num_samples; ++s)
    for (Eigen::Index b = 0; b < batch; ++b) {
      const Eigen::Index r = s * batch + b;
      const double log_pz = -0.5 * c.z.row(r).squaredNorm();
      const double log_qz = -0.5 * c.eps.row(r).squaredNorm() - half_logvar_sum(b);
      log_w(b, s) = -nll(r) + log_pz - log_qz;
    }
  Eigen::VectorXd result(batch);
  for (Eigen::Index b = 0; b < batch; ++b) result(b) = log_mean_exp(log_w.row(b).transpose());
  return result;
}

}  // namespace vae::ref
