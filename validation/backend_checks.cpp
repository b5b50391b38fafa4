#include "backend_checks.h"

#include <chrono>

#include "backend/registry.h"
#include "tolerances.h"

namespace vae {

namespace {

std::vector<double> slice(const std::vector<double>& flat, const ParamView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

double total(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

std::vector<ValidationCase> backend_matrix() {
  const VaeConfig base;  // 784-[400]-20 relu bernoulli, beta 1, K 1
  std::vector<std::pair<std::string, VaeConfig>> configs;
  configs.push_back({"default", base});

  VaeConfig tanh_gauss = base;
  tanh_gauss.activation = Activation::Tanh;
  tanh_gauss.likelihood = Likelihood::Gaussian;
  configs.push_back({"tanh-gaussian", tanh_gauss});

  VaeConfig beta_k = base;
  beta_k.beta = 4.0;
  beta_k.samples = 3;
  configs.push_back({"beta4-k3", beta_k});

  VaeConfig two_hidden = base;
  two_hidden.encoder_hidden = {512, 256};
  two_hidden.seed = 1;
  configs.push_back({"hidden512x256", two_hidden});

  VaeConfig latent2 = base;
  latent2.latent = 2;
  latent2.seed = 2;
  configs.push_back({"latent2", latent2});

  VaeConfig latent7 = base;
  latent7.latent = 7;
  latent7.seed = 7;
  configs.push_back({"latent7", latent7});

  std::vector<ValidationCase> m;
  for (const auto& [name, config] : configs)
    for (int batch : {1, 128, 1000}) m.push_back({name + "-b" + std::to_string(batch), config, batch});
  return m;
}

std::vector<double> adam_step_eps(const ValidationCase& c, int step) {
  return make_eps(c.config.seed, uint64_t(step), c.config.samples, c.batch, c.config.latent);
}

ExpectedOutputs expected_outputs(const ValidationCase& c, const CaseInputs& in, int adam_steps) {
  ExpectedOutputs e;
  const std::unique_ptr<Backend> reference = create_backend("reference", c.config, "cpu", "fp64");
  reference->set_params(in.params);
  e.losses = reference->gradients(in.x, c.batch, in.eps, e.grad);
  const AdamOptions adam;
  for (int s = 1; s <= adam_steps; ++s) {
    e.step_losses.push_back(reference->train_step(in.x, c.batch, adam_step_eps(c, s), adam));
    e.step_params.push_back(reference->params());
  }
  return e;
}

CaseResult check_backend(Backend& backend, const ValidationCase& c, const CaseInputs& in,
                         const ExpectedOutputs& expected, BackendCaseOutputs* outputs) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& precision = backend.precision();
  CaseResult r;
  r.vcase = c;
  r.x_source = in.x_source;
  auto& out = r.comparisons;

  backend.set_params(in.params);
  std::vector<double> grad;
  const BatchLosses got = backend.gradients(in.x, c.batch, in.eps, grad);
  const BatchLosses& want = expected.losses;
  out.push_back(compare_normwise("recon", got.recon, want.recon, tol::backend(tol::Quantity::Recon, precision)));
  out.push_back(compare_normwise("kl", got.kl, want.kl, tol::backend(tol::Quantity::Kl, precision)));
  out.push_back(compare_normwise("loss", got.loss, want.loss, tol::backend(tol::Quantity::Recon, precision)));
  out.push_back(compare_normwise("elbo", got.elbo, want.elbo, tol::backend(tol::Quantity::Recon, precision)));
  for (const ParamView& v : backend.layout().views())
    out.push_back(compare_normwise("grad." + v.name, slice(grad, v), slice(expected.grad, v),
                                   tol::backend(tol::Quantity::Gradient, precision)));
  if (outputs) *outputs = {got, grad};

  // Adam from the same start, the same noise per step: the loss before each step (summed
  // over the batch, the quantity being minimised) and all parameters after it.
  backend.set_params(in.params);
  const AdamOptions adam;
  std::vector<Comparison> loss_steps, param_steps;
  for (size_t s = 0; s < expected.step_params.size(); ++s) {
    const BatchLosses l = backend.train_step(in.x, c.batch, adam_step_eps(c, int(s) + 1), adam);
    loss_steps.push_back(compare_normwise("adam.loss", {total(l.loss)}, {total(expected.step_losses[s].loss)},
                                          tol::backend(tol::Quantity::AdamLoss, precision)));
    param_steps.push_back(compare_normwise("adam.params", backend.params(), expected.step_params[s],
                                           tol::backend(tol::Quantity::AdamParams, precision)));
  }
  if (!loss_steps.empty()) {
    const std::string suffix = " (worst of " + std::to_string(loss_steps.size()) + " Adam steps)";
    out.push_back(worst_of(loss_steps, "adam.loss" + suffix));
    out.push_back(worst_of(param_steps, "adam.params" + suffix));
  }

  r.passed = true;
  for (const Comparison& cmp : r.comparisons) r.passed &= cmp.passed;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace vae
