#include "vae_reference.h"

#include <cmath>

#include "common/error.h"

namespace vae::ref {

namespace {

using ConstMap = Eigen::Map<const Matrix>;
using ConstRowMap = Eigen::Map<const Eigen::RowVectorXd>;
using RowMap = Eigen::Map<Eigen::RowVectorXd>;
using MatMap = Eigen::Map<Matrix>;

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

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

void activate(Activation act, Matrix& m) {
  if (act == Activation::Relu) m = m.cwiseMax(0.0);
  else m = m.array().tanh().matrix();
}

// d(act)/d(pre), written in terms of the activation's output a = act(pre).
// ReLU: 1 where a > 0 (PyTorch's convention: the derivative at 0 is 0). tanh: 1 - a^2.
void scale_by_activation_derivative(Activation act, const Matrix& a, Matrix& grad) {
  if (act == Activation::Relu) grad = (a.array() > 0.0).select(grad, 0.0);
  else grad = grad.array() * (1.0 - a.array().square());
}

double sigmoid(double o) {
  if (o >= 0) return 1.0 / (1.0 + std::exp(-o));
  const double e = std::exp(o);
  return e / (1.0 + e);
}

// -log p(x_d | o_d) for one pixel.
double pixel_nll(Likelihood lik, double o, double x) {
  if (lik == Likelihood::Bernoulli)  // BCE with logits: max(o,0) - o x + log(1 + exp(-|o|))
    return std::max(o, 0.0) - o * x + std::log1p(std::exp(-std::abs(o)));
  const double mean = sigmoid(o);
  return 0.5 * (x - mean) * (x - mean) + 0.5 * kLog2Pi;
}

// d(-log p(x_d | o_d)) / d o_d.
double pixel_nll_grad(Likelihood lik, double o, double x) {
  const double s = sigmoid(o);
  if (lik == Likelihood::Bernoulli) return s - x;
  return (s - x) * s * (1.0 - s);  // d/dmean of 0.5 (x-mean)^2, times dmean/do
}

// Row r of the [K*B, D] decoder output belongs to image r % B.
Eigen::VectorXd per_row_nll(Likelihood lik, const Matrix& o, const Matrix& x) {
  const Eigen::Index batch = x.rows();
  Eigen::VectorXd nll(o.rows());
  for (Eigen::Index r = 0; r < o.rows(); ++r) {
    double s = 0.0;
    for (Eigen::Index d = 0; d < o.cols(); ++d) s += pixel_nll(lik, o(r, d), x(r % batch, d));
    nll(r) = s;
  }
  return nll;
}

}  // namespace

struct VaeReference::Cache {
  std::vector<Matrix> enc;  // enc[0] = x, enc[l+1] = output of encoder hidden layer l
  Matrix mu, logvar, sigma, eps;  // [B, Z], eps [K*B, Z]
  std::vector<Matrix> dec;  // dec[0] = z [K*B, Z], dec[l+1] = output of decoder hidden layer l
  Matrix out;               // decoder logits o [K*B, D]
};

VaeReference::VaeReference(const VaeConfig& config) : config_(config), layout_(config) {}

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

void VaeReference::run_forward(const std::vector<double>& p, const Matrix& x, const std::vector<double>& eps,
                               int k, Cache& c) const {
  const Eigen::Index batch = x.rows(), z_dim = config_.latent;
  c.enc.assign(1, x);
  for (const LinearLayer& l : layout_.encoder_hidden()) {
    c.enc.push_back(affine(p, l, c.enc.back()));
    activate(config_.activation, c.enc.back());
  }
  c.mu = affine(p, layout_.mu(), c.enc.back());
  c.logvar = affine(p, layout_.logvar(), c.enc.back());
  c.sigma = (0.5 * c.logvar.array()).exp().matrix();

  c.eps = ConstMap(eps.data(), k * batch, z_dim);
  Matrix z(k * batch, z_dim);
  for (int s = 0; s < k; ++s)
    z.middleRows(s * batch, batch) = c.mu + c.sigma.cwiseProduct(c.eps.middleRows(s * batch, batch));
  c.dec.assign(1, std::move(z));
  for (const LinearLayer& l : layout_.decoder_hidden()) {
    c.dec.push_back(affine(p, l, c.dec.back()));
    activate(config_.activation, c.dec.back());
  }
  c.out = affine(p, layout_.out(), c.dec.back());
}

Losses VaeReference::losses(const Cache& c, const Matrix& x, double kl_weight) const {
  const int k = config_.samples;
  const Eigen::Index batch = x.rows();
  Losses r;
  const Eigen::VectorXd nll = per_row_nll(config_.likelihood, c.out, x);
  r.recon = Eigen::VectorXd::Zero(batch);
  for (int s = 0; s < k; ++s) r.recon += nll.segment(s * batch, batch);
  r.recon /= double(k);
  // KL(N(mu, sigma^2) || N(0, 1)) = -0.5 sum_j (1 + logvar - mu^2 - exp(logvar))
  r.kl = -0.5 * (1.0 + c.logvar.array() - c.mu.array().square() - c.logvar.array().exp()).rowwise().sum();
  r.loss = r.recon + (config_.beta * kl_weight) * r.kl;
  r.elbo = -(r.recon + r.kl);
  return r;
}

Losses VaeReference::forward(const std::vector<double>& params, const Matrix& x,
                             const std::vector<double>& eps) const {
  check(params, x, eps, config_.samples);
  Cache c;
  run_forward(params, x, eps, config_.samples, c);
  return losses(c, x, 1.0);
}

Losses VaeReference::forward_backward(const std::vector<double>& p, const Matrix& x,
                                      const std::vector<double>& eps, std::vector<double>& grad,
                                      double kl_weight) const {
  const int k = config_.samples;
  check(p, x, eps, k);
  Cache c;
  run_forward(p, x, eps, k, c);
  const Losses result = losses(c, x, kl_weight);
  const Eigen::Index batch = x.rows();
  grad.assign(layout_.total(), 0.0);

  // Accumulates dW = dY^T A and db = colsum(dY) for y = a W^T + b, returns dA = dY W.
  auto backprop_affine = [&](const LinearLayer& l, const Matrix& a, const Matrix& dy, bool need_input_grad) {
    MatMap(grad.data() + l.weight_offset, l.out, l.in) += dy.transpose() * a;
    RowMap(grad.data() + l.bias_offset, l.out) += dy.colwise().sum();
    return need_input_grad ? Matrix(dy * weight(p, l)) : Matrix();
  };

  // dL/do: each of the K samples carries weight 1/K in recon_b.
  Matrix d_out(c.out.rows(), c.out.cols());
  for (Eigen::Index r = 0; r < c.out.rows(); ++r)
    for (Eigen::Index d = 0; d < c.out.cols(); ++d)
      d_out(r, d) = pixel_nll_grad(config_.likelihood, c.out(r, d), x(r % batch, d)) / double(k);

  // Decoder, output layer first.
  Matrix d_act = backprop_affine(layout_.out(), c.dec.back(), d_out, true);
  const auto& dec_layers = layout_.decoder_hidden();
  for (size_t i = dec_layers.size(); i-- > 0;) {
    scale_by_activation_derivative(config_.activation, c.dec[i + 1], d_act);
    d_act = backprop_affine(dec_layers[i], c.dec[i], d_act, true);
  }
  const Matrix& d_z = d_act;  // [K*B, Z]

  // z = mu + exp(0.5 logvar) * eps:  dz/dmu = 1,  dz/dlogvar = 0.5 * sigma * eps.
  // KL term (times beta): dKL/dmu = mu,  dKL/dlogvar = 0.5 (exp(logvar) - 1).
  const double beta = config_.beta * kl_weight;
  Matrix d_mu = beta * c.mu;
  Matrix d_logvar = (0.5 * beta) * (c.logvar.array().exp() - 1.0).matrix();
  for (int s = 0; s < k; ++s) {
    const auto dz_s = d_z.middleRows(s * batch, batch);
    d_mu += dz_s;
    d_logvar.array() += 0.5 * dz_s.array() * c.sigma.array() * c.eps.middleRows(s * batch, batch).array();
  }

  // Encoder heads share the last hidden activation; then the hidden layers, top first.
  const auto& enc_layers = layout_.encoder_hidden();
  const bool need = !enc_layers.empty();
  d_act = backprop_affine(layout_.mu(), c.enc.back(), d_mu, need);
  if (need) d_act += backprop_affine(layout_.logvar(), c.enc.back(), d_logvar, true);
  else backprop_affine(layout_.logvar(), c.enc.back(), d_logvar, false);
  for (size_t i = enc_layers.size(); i-- > 0;) {
    scale_by_activation_derivative(config_.activation, c.enc[i + 1], d_act);
    d_act = backprop_affine(enc_layers[i], c.enc[i], d_act, i > 0);  // no gradient wrt x
  }
  return result;
}

double log_mean_exp(const Eigen::Ref<const Eigen::VectorXd>& v) {
  const double m = v.maxCoeff();
  if (!std::isfinite(m)) return m;  // all -inf (or a +inf/NaN): nothing to stabilise
  return m + std::log((v.array() - m).exp().sum() / double(v.size()));
}

Eigen::VectorXd VaeReference::iw_log_likelihood(const std::vector<double>& p, const Matrix& x,
                                                const std::vector<double>& eps, int num_samples) const {
  if (num_samples < 1) throw Error("reference: importance sampling needs at least 1 sample");
  check(p, x, eps, num_samples);
  Cache c;
  run_forward(p, x, eps, num_samples, c);
  const Eigen::Index batch = x.rows();
  const Eigen::VectorXd nll = per_row_nll(config_.likelihood, c.out, x);
  const Eigen::VectorXd half_logvar_sum = 0.5 * c.logvar.rowwise().sum();

  // log w = log p(x|z) + log p(z) - log q(z|x). With z = mu + sigma eps:
  //   log p(z)   = sum_j -0.5 z_j^2 - 0.5 log 2pi
  //   log q(z|x) = sum_j -0.5 eps_j^2 - 0.5 logvar_j - 0.5 log 2pi
  // The log 2pi terms cancel exactly, so they are left out of both.
  Matrix log_w(batch, num_samples);
  for (int s = 0; s < num_samples; ++s)
    for (Eigen::Index b = 0; b < batch; ++b) {
      const Eigen::Index r = s * batch + b;
      const double log_pz = -0.5 * c.dec[0].row(r).squaredNorm();
      const double log_qz = -0.5 * c.eps.row(r).squaredNorm() - half_logvar_sum(b);
      log_w(b, s) = -nll(r) + log_pz - log_qz;
    }
  Eigen::VectorXd result(batch);
  for (Eigen::Index b = 0; b < batch; ++b) result(b) = log_mean_exp(log_w.row(b).transpose());
  return result;
}

}  // namespace vae::ref
