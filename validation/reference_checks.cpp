#include "reference_checks.h"

#include <chrono>

#include <torch/torch.h>

#include "gradient_compare.h"
#include "adam.h"
#include "common/counter_rng.h"
#include "libtorch/vae_math.h"
#include "vae_reference.h"

namespace vae {

namespace {

using ref::Matrix;

std::vector<double> to_vector(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

torch::Tensor to_tensor(const std::vector<double>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<double*>(v.data()), shape, torch::kFloat64).clone();
}

std::vector<double> slice(const std::vector<double>& flat, const ParamView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

// sum_b (t_b(p + h d) - t_b(p - h d)) / 2h, t_b the differentiated terms (the batch objective), differenced per image before summing so
// that the rounding error of large per-image losses does not add up across the batch.
double central_difference(const ref::VaeReference& model, std::vector<double>& p, const Matrix& x,
                          const std::vector<double>& eps, const std::vector<std::pair<size_t, double>>& direction,
                          double h) {
  for (const auto& [i, d] : direction) p[i] += h * d;
  const Eigen::VectorXd plus = model.differentiated_terms(model.forward(p, x, eps));
  for (const auto& [i, d] : direction) p[i] -= 2 * h * d;
  const Eigen::VectorXd minus = model.differentiated_terms(model.forward(p, x, eps));
  for (const auto& [i, d] : direction) p[i] += h * d;
  return (plus - minus).sum() / (2 * h);
}

}  // namespace

std::vector<Comparison> finite_difference_checks(const VaeConfig& config, const CaseInputs& in, int batch,
                                                 const std::vector<double>& grad, const ReferenceCheckOptions& opt,
                                                 const ref::Deviation& deviation) {
  const ref::VaeReference model(config, deviation);
  const Matrix x = Eigen::Map<const Matrix>(in.x.data(), batch, config.input_dim);
  std::vector<Comparison> out;
  std::vector<double> p = in.params;
  const auto& views = model.layout().views();
  for (size_t t = 0; t < views.size(); ++t) {
    const ParamView& v = views[t];
    std::vector<double> numeric, analytic;
    const bool full = v.size <= opt.fd_full_below;
    const size_t entries = full ? v.size : opt.fd_entries_per_tensor;
    for (size_t e = 0; e < entries; ++e) {
      const size_t i = v.offset + (full ? e : counter_bits(model.config().seed, kStreamFdEntriesBase + t, e) % v.size);
      numeric.push_back(central_difference(model, p, x, in.eps, {{i, 1.0}}, opt.fd_step));
      analytic.push_back(grad[i]);
    }
    if (!full) {
      // One random direction over the whole tensor checks every entry at once: g . d.
      std::vector<std::pair<size_t, double>> direction;
      double dot = 0;
      for (size_t e = 0; e < v.size; ++e) {
        const double d = counter_normal(model.config().seed, kStreamFdDirectionBase + t, e) / std::sqrt(double(v.size));
        direction.push_back({v.offset + e, d});
        dot += grad[v.offset + e] * d;
      }
      numeric.push_back(central_difference(model, p, x, in.eps, direction, opt.fd_step));
      analytic.push_back(dot);
    }
    out.push_back(compare_elementwise("fd." + v.name, analytic, numeric, tol::kFiniteDifference));
  }
  return out;
}

namespace {

void torch_autograd_checks(const ref::VaeReference& model, const CaseInputs& in, const ValidationCase& c,
                           const ref::Losses& ref_losses, const std::vector<double>& grad,
                           std::vector<Comparison>& out) {
  const VaeConfig& cfg = model.config();
  const torch::Tensor x = to_tensor(in.x, {c.batch, cfg.input_dim});
  const torch::Tensor eps = to_tensor(in.eps, {cfg.samples, c.batch, cfg.latent});
  const torch::Tensor flat = to_tensor(in.params, {int64_t(in.params.size())}).requires_grad_(true);
  const libtorch::Losses t = libtorch::forward(cfg, libtorch::view_params(model.layout(), flat), x, eps);
  libtorch::batch_objective(cfg, t.loss).backward();
  out.push_back(compare_normwise("recon", to_vector(ref_losses.recon), to_vector(t.recon), tol::kTorchFloat64));
  out.push_back(compare_normwise("kl", to_vector(ref_losses.kl), to_vector(t.kl), tol::kTorchFloat64));
  out.push_back(compare_normwise("loss", to_vector(ref_losses.loss), to_vector(t.loss), tol::kTorchFloat64));
  out.push_back(compare_normwise("elbo", to_vector(ref_losses.elbo), to_vector(t.elbo), tol::kTorchFloat64));
  const std::vector<double> torch_grad = to_vector(flat.grad());
  for (size_t k = 0; k < model.layout().views().size(); ++k)
    out.push_back(compare_gradient_tensor("grad." + model.layout().views()[k].name, model.layout(), k, grad, torch_grad,
                                          tol::kTorchFloat64));
}

void adam_checks(const ref::VaeReference& model, const CaseInputs& in, const ValidationCase& c, const Matrix& x,
                 int steps, std::vector<Comparison>& out) {
  const VaeConfig& cfg = model.config();
  const AdamOptions options;
  std::vector<double> p = in.params, grad;
  ref::Adam adam(p.size(), options);

  const torch::Tensor tx = to_tensor(in.x, {c.batch, cfg.input_dim});
  const torch::Tensor flat = to_tensor(in.params, {int64_t(p.size())}).requires_grad_(true);
  torch::optim::Adam torch_adam({flat}, torch::optim::AdamOptions(options.lr)
                                           .betas({options.beta1, options.beta2})
                                           .eps(options.eps));
  const libtorch::ParamTensors views = libtorch::view_params(model.layout(), flat);

  std::vector<Comparison> loss_steps, param_steps, vanishing_steps;
  for (int s = 1; s <= steps; ++s) {
    const std::vector<double> eps = make_eps(cfg.seed, uint64_t(s), cfg.samples, c.batch, cfg.latent);
    const ref::Losses ref_losses = model.forward_backward(p, x, eps, grad);
    adam.step(p, grad);

    torch_adam.zero_grad();
    const libtorch::Losses t = libtorch::forward(cfg, views, tx, to_tensor(eps, {cfg.samples, c.batch, cfg.latent}));
    libtorch::batch_objective(cfg, t.loss).backward();
    torch_adam.step();

    loss_steps.push_back(compare_normwise("loss", to_vector(ref_losses.loss), to_vector(t.loss), tol::kAdamFloat64));
    const SplitByEffect ours = split_by_effect(model.layout(), p), theirs = split_by_effect(model.layout(), to_vector(flat));
    param_steps.push_back(compare_normwise("params", ours.effective, theirs.effective, tol::kAdamFloat64));
    if (!ours.vanishing.empty())
      vanishing_steps.push_back(compare_normwise("params", ours.vanishing, theirs.vanishing, tol::kAdamFloat64));
  }
  const std::string suffix = " (worst of " + std::to_string(steps) + " Adam steps)";
  out.push_back(worst_of(loss_steps, "adam.loss" + suffix));
  out.push_back(worst_of(param_steps, "adam.params" + suffix));
  if (!vanishing_steps.empty()) {
    Comparison shown = worst_of(vanishing_steps, "adam.params.before-batch-norm" + suffix);
    shown.judged = false;
    shown.check = "not judged";
    shown.passed = true;
    shown.percent_of_tolerance = 0;
    shown.note = "biases before batch norm: no effect on the loss, Adam moves them by rounding noise";
    out.push_back(shown);
  }
}

void importance_weighted_check(const ref::VaeReference& model, const CaseInputs& in, const ValidationCase& c,
                               const Matrix& x, int samples, std::vector<Comparison>& out) {
  const VaeConfig& cfg = model.config();
  std::vector<double> eps(size_t(samples) * size_t(c.batch) * size_t(cfg.latent));
  for (size_t i = 0; i < eps.size(); ++i) eps[i] = counter_normal(cfg.seed, kStreamIwEps, i);
  const Eigen::VectorXd ours = model.iw_log_likelihood(in.params, x, eps, samples);
  const torch::Tensor flat = to_tensor(in.params, {int64_t(in.params.size())});
  const torch::Tensor theirs = libtorch::iw_log_likelihood(
      cfg, libtorch::view_params(model.layout(), flat), to_tensor(in.x, {c.batch, cfg.input_dim}),
      to_tensor(eps, {samples, c.batch, cfg.latent}));
  out.push_back(compare_normwise("iw.log_px (S=" + std::to_string(samples) + ")", to_vector(ours), to_vector(theirs),
                                 tol::kImportanceWeightedFloat64));
}

}  // namespace

CaseResult check_reference(const ValidationCase& c, const CaseInputs& in, const ReferenceCheckOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  CaseResult r;
  r.vcase = c;
  r.x_source = in.x_source;
  const ref::VaeReference model(c.config);
  const Matrix x = Eigen::Map<const Matrix>(in.x.data(), c.batch, c.config.input_dim);

  std::vector<double> grad;
  const ref::Losses losses = model.forward_backward(in.params, x, in.eps, grad);
  torch_autograd_checks(model, in, c, losses, grad, r.comparisons);
  for (Comparison& fd : finite_difference_checks(c.config, in, c.batch, grad, opt)) r.comparisons.push_back(fd);
  adam_checks(model, in, c, x, opt.adam_steps, r.comparisons);
  // The IW estimate is of log p(x): only the default objective's likelihoods are one.
  if (c.config.default_objective())
    importance_weighted_check(model, in, c, x, opt.iw_samples, r.comparisons);
  else
    r.notes.push_back("no importance-weighted check: the objective is not a log-likelihood");

  r.passed = true;
  for (const Comparison& cmp : r.comparisons) r.passed &= cmp.passed;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace vae
