#include "backend_checks.h"
#include "precision_claim.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "gradient_compare.h"
#include "running_stats_compare.h"
#include "model/layers.h"
#include "adam.h"
#include "backend/registry.h"
#include "tolerances.h"

namespace vae {

namespace {

std::vector<double> slice(const std::vector<double>& flat, const ParamView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

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

std::vector<double> adam_step_eps(const ValidationCase& c, int step) {
  return make_eps(c.config.seed, uint64_t(step), c.config.samples, c.batch, c.config.latent);
}

ExpectedOutputs expected_outputs(const ValidationCase& c, const CaseInputs& in, int adam_steps) {
  ExpectedOutputs e;
  const std::unique_ptr<Backend> reference = create_backend("reference", c.config, "cpu", "fp64");
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
  std::vector<Comparison> out{
      compare_normwise("recon", got.losses.recon, want.losses.recon, tol(tol::Quantity::Recon)),
      compare_normwise("kl", got.losses.kl, want.losses.kl, tol(tol::Quantity::Kl)),
      compare_normwise("loss", got.losses.loss, want.losses.loss, tol(tol::Quantity::Recon)),
      compare_normwise("elbo", got.losses.elbo, want.losses.elbo, tol(tol::Quantity::Recon))};
  for (size_t t = 0; t < layout.views().size(); ++t)
    out.push_back(compare_gradient_tensor("grad." + layout.views()[t].name, layout, t, got.grad, want.grad,
                                          gradient_tolerance(layout, precision, t, config.likelihood)));
  return out;
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
  for (Comparison& cmp : compare_outputs_and_gradients(backend.config(), backend.layout(), precision, {got, grad},
                                                       {expected.losses, expected.grad}))
    out.push_back(std::move(cmp));
  if (outputs) *outputs = {got, grad};

  // Adam, judged step by step along the backend's own trajectory (tolerances.h explains why
  // the free-running comparison cannot be judged): before step s the backend stands at p0
  // with Adam state st0; it steps with the case's noise of step s and reports the gradient it
  // used. (A) The reference at p0 with the same noise: the losses before the step and each
  // gradient tensor. (B) The reference Adam applied to p0, st0 and the backend's own gradient:
  // the parameters, moments and step count after the step.
  backend.set_params(in.params);
  const AdamOptions adam;
  const size_t steps = expected.step_params.size();
  const std::unique_ptr<Backend> reference = create_backend("reference", c.config, "cpu", "fp64");
  const auto& views = backend.layout().views();
  const BufferLayout& buffers = backend.layout().model().buffers();
  std::vector<Comparison> loss_steps, step_steps, moment_steps, count_steps, drift_steps;
  std::vector<std::vector<Comparison>> grad_steps(views.size());
  RunningStatsOverSteps running_steps;
  backend.set_running_stats(buffers.initial_values());
  std::vector<double> p0 = backend.params(), r0 = backend.running_stats();
  AdamState st0 = backend.adam_state();
  for (size_t s = 0; s < steps; ++s) {
    const std::vector<double> eps = adam_step_eps(c, int(s) + 1);
    const BatchLosses l = backend.train_step(in.x, c.batch, eps, adam);
    const std::vector<double> g = backend.last_gradient();
    std::vector<double> p1 = backend.params(), r1 = backend.running_stats();
    AdamState st1 = backend.adam_state();

    // (A) the loss before the step, the gradient and batch norm's running statistics after
    // it, from the backend's own point (a reference training step from p0, st0, r0).
    reference->set_params(p0);
    reference->set_adam_state(st0);
    reference->set_running_stats(r0);
    const BatchLosses l_ref = reference->train_step(in.x, c.batch, eps, adam);
    const std::vector<double> g_ref = reference->last_gradient();
    running_steps.add(compare_running_stats("adam.running", buffers, r1, reference->running_stats(), r0,
                                            tol::backend(tol::Quantity::RunningStats, precision)));
    const Likelihood likelihood = backend.config().likelihood;
    loss_steps.push_back(
        compare_normwise("adam.loss", l.loss, l_ref.loss, tol::backend(tol::Quantity::Recon, precision, likelihood)));
    for (size_t k = 0; k < views.size(); ++k)
      grad_steps[k].push_back(compare_gradient_tensor("adam.grad." + views[k].name, backend.layout(), k, g, g_ref,
                                                      gradient_tolerance(backend.layout(), precision, k, likelihood)));

    // (B) one reference Adam step from the backend's own state with the backend's gradient.
    const AdamStepComparisons b = compare_adam_step(p0, st0, g, adam, p1, st1, precision);
    step_steps.push_back(b.params);
    moment_steps.push_back(b.exp_avg);
    moment_steps.push_back(b.exp_avg_sq);
    count_steps.push_back(b.count);

    // Free-running drift from the reference trajectory (same start, same noise): shown, not judged.
    Comparison drift = compare_normwise("adam.drift", p1, expected.step_params[s], tol::kBackendFp64);
    drift.check = "not judged";
    drift.judged = false;
    drift.tolerance_name = "none";
    drift.percent_of_tolerance = 0;
    drift.passed = true;
    drift_steps.push_back(drift);

    p0 = std::move(p1);
    r0 = std::move(r1);
    st0 = std::move(st1);
  }
  if (steps > 0) {
    const std::string suffix = " (worst of " + std::to_string(steps) + " Adam steps)";
    for (Comparison& row : running_steps.worst(suffix)) out.push_back(std::move(row));
    out.push_back(worst_of(loss_steps, "adam.loss" + suffix));
    // The gradients along the trajectory are judged by their median step: at any step a
    // ReLU pre-activation may lie within fp32 rounding of the kink, and fp32 may then take
    // the other side for that one (image, unit) -- a legitimate fp32 result that moves one
    // bias entry by a whole image's contribution (measured: 4.7x and 12x the tolerance, at one
    // step of ten, on hidden512x256-b1000 and latent7-b1000). A gradient error in the code
    // shows at every step; the step-0 gradient above is judged on its own (worst-case) bound.
    for (size_t k = 0; k < views.size(); ++k) out.push_back(median_of(grad_steps[k], "adam.grad." + views[k].name));
    out.push_back(worst_of(step_steps, "adam.step" + suffix));
    out.push_back(worst_of(moment_steps, "adam.moments" + suffix));
    out.push_back(worst_of(count_steps, "adam.count" + suffix));
    Comparison drift = *std::max_element(drift_steps.begin(), drift_steps.end(),
                                         [](const Comparison& a, const Comparison& b) { return a.norm_rel < b.norm_rel; });
    drift.quantity = "adam.drift (not judged, worst of " + std::to_string(steps) + " Adam steps)";
    out.push_back(drift);
  }

  r.passed = true;
  for (const Comparison& cmp : r.comparisons) r.passed &= cmp.passed;
  if (const std::string loose = loosely_judged_note(r, precision); !loose.empty()) r.notes.push_back(loose);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace vae
