#include "expected_outputs.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "adam.h"
#include "backend/reference_backend.h"
#include "gradient_compare.h"
#include "model/layers.h"
#include "tolerances.h"

namespace vae {


namespace {

// Element-wise against a per-element bound: passes when |got_i - want_i| <= bound_i for all i;
// % of tolerance is the largest |got_i - want_i| / bound_i. The other statistics as compare.h.
Comparison compare_bounded(const std::string& quantity, const std::vector<double>& got, const std::vector<double>& want,
                           const std::vector<double>& bound, const char* tolerance_name) {
  Comparison c = compare_normwise(quantity, got, want, tol::kBackendFp64);  // count, max abs/rel, norm rel
  c.check = "element-wise";
  c.tolerance_name = tolerance_name;
  double worst = 0;
  bool finite = true;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(got[i] - want[i]);
    finite &= std::isfinite(got[i]) && std::isfinite(want[i]);
    if (d > 0) worst = std::max(worst, bound[i] > 0 ? d / bound[i] : std::numeric_limits<double>::infinity());
  }
  c.percent_of_tolerance = finite ? 100.0 * worst : std::numeric_limits<double>::infinity();
  c.passed = finite && worst <= 1.0;
  return c;
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
  // Convolutional models (validation/cases.h): the preset at the batches people train with
  // and at 1; the other stacks, batch norm and the CelebA model at small batches (their
  // accumulation lengths, not the batch, are what they add).
  for (int batch : {1, 16, 128}) m.push_back({"conv-mnist-b" + std::to_string(batch), conv_model("conv-mnist"), batch});
  m.push_back({"conv-odd-b5", conv_model("conv-odd"), 5});
  m.push_back({"conv-dense-between-b5", conv_model("conv-dense-between"), 5});
  for (int batch : {2, 16}) m.push_back({"conv-bn-b" + std::to_string(batch), conv_model("conv-bn"), batch});
  m.push_back({"conv-bn-k3-b2", conv_model("conv-bn-k3"), 2});
  m.push_back({"conv-celeba64-b2", conv_model("conv-celeba64"), 2});
  return m;
}

BatchTotals batch_totals(const VaeConfig& config, const BatchLosses& per_image) {
  const auto reduce = [&](const std::vector<double>& v) {
    double total = 0;
    for (double t : v) total += t;
    return config.objective.batch == Reduction::Mean && !v.empty() ? total / double(v.size()) : total;
  };
  return {reduce(per_image.loss), reduce(per_image.recon), reduce(per_image.kl)};
}

std::optional<double> total_value(const BatchTotals& t, size_t k) {
  return k == 0 ? std::optional<double>(t.loss) : k == 1 ? t.recon : t.kl;
}

void set_total(BatchTotals& t, size_t k, double value) {
  (k == 0 ? t.loss : k == 1 ? t.recon.emplace() : t.kl.emplace()) = value;
}

Comparison compare_total(size_t k, const std::vector<double>& got, double want, const VaeConfig& config,
                         const std::string& precision) {
  // A total of B per-image terms, each within its norm-wise bound, is within the same
  // relative bound when the terms share a sign (recon and KL are >= 0 for the Bernoulli and
  // for the Gaussian with its constant); the reduction's own rounding, log2(B) ulps, is far
  // below it. So the per-image quantities' tolerances apply to the totals.
  return compare_normwise(kTotals[k].row, got, {want}, tol::backend(kTotals[k].quantity, precision, config.likelihood));
}

bool is_output_row(const Comparison& row) { return row.quantity.rfind("grad.", 0) != 0; }

std::vector<double> adam_steps_eps(const ValidationCase& c, int steps) {
  std::vector<double> all;
  for (int s = 1; s <= steps; ++s) {
    const std::vector<double> e = adam_step_eps(c, s);
    all.insert(all.end(), e.begin(), e.end());
  }
  return all;
}

std::vector<double> adam_step_eps(const ValidationCase& c, int step) {
  return make_eps(c.config.seed, uint64_t(step), c.config.samples, c.batch, c.config.latent);
}

ExpectedOutputs expected_outputs(const ValidationCase& c, const CaseInputs& in, int adam_steps) {
  ExpectedOutputs e;
  const std::unique_ptr<Backend> reference = create_reference_backend(c.config);
  reference->set_params(in.params);
  e.losses = reference->gradients(in.x, c.batch, in.eps, e.grad);
  const AdamOptions adam;
  if (reference->layout().model().buffers().total() > 0) {
    // A training step updates the running statistics by its forward, before the update of the
    // parameters: the step's running statistics are those of the forward at in.params.
    reference->train_step(in.x, c.batch, in.eps, adam);
    e.running = reference->running_stats();
    reference->set_params(in.params);
    reference->set_running_stats(reference->layout().model().buffers().initial_values());
  }
  for (int s = 1; s <= adam_steps; ++s) {
    e.step_losses.push_back(reference->train_step(in.x, c.batch, adam_step_eps(c, s), adam));
    e.step_params.push_back(reference->params());
  }
  return e;
}

AdamStepComparisons compare_adam_step(const std::vector<double>& p0, const AdamState& st0, const std::vector<double>& g,
                                      const AdamOptions& adam, const std::vector<double>& p1, const AdamState& st1,
                                      const std::string& precision) {
  std::vector<double> want = p0;
  ref::Adam opt(adam, st0.step, st0.exp_avg, st0.exp_avg_sq);
  opt.step(want, g);
  const std::vector<double>& m_want = opt.first_moment();
  const std::vector<double>& v_want = opt.second_moment();
  AdamStepComparisons out;
  out.count = compare_normwise("adam.count", {double(st1.step)}, {double(opt.steps())}, tol::kBackendFp64);
  if (precision == "fp64") {
    out.params = compare_normwise("adam.step", p1, want, tol::kBackendFp64);
    out.exp_avg = compare_normwise("adam.moments.m", st1.exp_avg, m_want, tol::kBackendFp64);
    out.exp_avg_sq = compare_normwise("adam.moments.v", st1.exp_avg_sq, v_want, tol::kBackendFp64);
    return out;
  }
  // Element-wise with the scales of tolerances.h (adam-step, adam-step-moments).
  const double t = double(opt.steps());
  const double step_size = adam.lr / (1.0 - std::pow(adam.beta1, t));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(adam.beta2, t));
  const double scalars = tol::adam_float_scalars(opt.steps(), adam.beta1, adam.beta2);
  std::vector<double> p_bound(want.size()), m_bound(want.size()), v_bound(want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const double big_m = adam.beta1 * std::abs(st0.exp_avg[i]) + (1.0 - adam.beta1) * std::abs(g[i]);
    const double big_s = step_size * big_m / (std::sqrt(v_want[i]) / bc2_sqrt + adam.eps);
    p_bound[i] = tol::kAdamStep.bound(1) * (std::abs(p0[i]) + 16.0 * big_s) + scalars * big_s;
    m_bound[i] = tol::kAdamStepMoments.bound(0) * big_m;
    v_bound[i] = tol::kAdamStepMoments.bound(0) * v_want[i];
  }
  out.params = compare_bounded("adam.step", p1, want, p_bound, tol::kAdamStep.name);
  out.exp_avg = compare_bounded("adam.moments.m", st1.exp_avg, m_want, m_bound, tol::kAdamStepMoments.name);
  out.exp_avg_sq = compare_bounded("adam.moments.v", st1.exp_avg_sq, v_want, v_bound, tol::kAdamStepMoments.name);
  return out;
}

std::vector<Comparison> compare_outputs_and_gradients(const VaeConfig& config, const ParamLayout& layout,
                                                      const std::string& precision, const BackendCaseOutputs& got,
                                                      const BackendCaseOutputs& want) {
  const auto tol = [&](tol::Quantity q) -> const tol::Tolerance& { return tol::backend(q, precision, config.likelihood); };
  std::vector<Comparison> out;
  if (got.totals) {
    // The reference's totals as `want` gives them (a mistaken case reduces by its own
    // objective: validation/diagnosis.cpp), else reduced by config's objective.
    const BatchTotals want_totals = want.totals ? *want.totals : batch_totals(config, want.losses);
    for (size_t k = 0; k < std::size(kTotals); ++k)
      if (const std::optional<double> g = total_value(*got.totals, k))
        out.push_back(compare_total(k, {*g}, *total_value(want_totals, k), config, precision));
  } else {
    out = {compare_normwise("recon", got.losses.recon, want.losses.recon, tol(tol::Quantity::Recon)),
           compare_normwise("kl", got.losses.kl, want.losses.kl, tol(tol::Quantity::Kl)),
           compare_normwise("loss", got.losses.loss, want.losses.loss, tol(tol::Quantity::Recon)),
           compare_normwise("elbo", got.losses.elbo, want.losses.elbo, tol(tol::Quantity::Recon))};
  }
  for (size_t t = 0; t < layout.views().size(); ++t)
    out.push_back(compare_gradient_tensor("grad." + layout.views()[t].name, layout, t, got.grad, want.grad,
                                          gradient_tolerance(layout, precision, t, config.likelihood)));
  return out;
}

}  // namespace vae
