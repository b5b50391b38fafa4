#pragma once
// A backend against the reference, per case: recon, KL, loss and ELBO per image and every
// gradient tensor on the same inputs and noise; then ten Adam steps from the same start with
// the same noise each step, comparing the losses before each step and the parameters after it.
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cases.h"
#include "reference_checks.h"

namespace vae {

// The configurations every backend must reproduce: default 784-400-20 relu/bernoulli;
// tanh/gaussian; beta 4 with K = 3; hidden [512, 256]; latent 2; latent 7 -- each at batch
// 1, 128 and 1000.
std::vector<ValidationCase> backend_matrix();

// What the reference computes for a case; shared by every backend checked on it.
struct ExpectedOutputs {
  BatchLosses losses;
  std::vector<double> grad;
  std::vector<BatchLosses> step_losses;          // before Adam step s (1..steps)
  std::vector<std::vector<double>> step_params;  // after Adam step s
  // Batch norm's running statistics after one training-mode forward at the initial parameters
  // with the case's eps, from their initial values (what a results file's running.* holds);
  // empty without batch norm.
  std::vector<double> running;
};
ExpectedOutputs expected_outputs(const ValidationCase& c, const CaseInputs& in, int adam_steps = 10);

// The noise of Adam step s (1-based) in these checks.
std::vector<double> adam_step_eps(const ValidationCase& c, int step);

struct BackendCaseOutputs {
  BatchLosses losses;
  std::vector<double> grad;
};

// The rows every judgement of a case's outputs has, in this order: recon, kl, loss and elbo
// per image against `want`, then grad.<name> for each tensor of the layout, at `precision`'s
// tolerances for config's likelihood (tolerances.h). check_backend's first rows, and what the
// diagnosis compares against each known mistake (validation/diagnosis.h).
std::vector<Comparison> compare_outputs_and_gradients(const VaeConfig& config, const ParamLayout& layout,
                                                      const std::string& precision, const BackendCaseOutputs& got,
                                                      const BackendCaseOutputs& want);

// One Adam step judged on the backend's own gradient: the reference Adam applied to the
// backend's parameters p0 and state st0 before the step with the gradient g it reports must
// give the p1 and st1 it reports after it (element-wise bounds of tolerances.h for float
// precisions, backend-fp64 norm-wise for fp64).
struct AdamStepComparisons {
  Comparison params, exp_avg, exp_avg_sq, count;
};
AdamStepComparisons compare_adam_step(const std::vector<double>& p0, const AdamState& st0, const std::vector<double>& g,
                                      const AdamOptions& adam, const std::vector<double>& p1, const AdamState& st1,
                                      const std::string& precision);

// `backend` must have been created for c.config; its parameters are overwritten.
CaseResult check_backend(Backend& backend, const ValidationCase& c, const CaseInputs& in,
                         const ExpectedOutputs& expected, BackendCaseOutputs* outputs = nullptr);

}  // namespace vae
