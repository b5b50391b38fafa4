#pragma once
// What the reference expects of a case and the rows every judgement of it has: the part of the
// backend checks that needs no backend registry and no LibTorch, shared by the built-in
// backends' checks (backend_checks.h), the judge of outside implementations
// (external_checks.h), the diagnosis and the judge-only build (vaebench-judge, the Python
// package's judge).
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cases.h"
#include "compare.h"
#include "model/adam_options.h"
#include "model/params.h"
#include "tolerances.h"

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

// The noise of Adam steps 1..steps back to back ([steps, K, B, Z]): a case file's adam.eps.
std::vector<double> adam_steps_eps(const ValidationCase& c, int steps);

// The noise of Adam step s (1-based) in these checks.
std::vector<double> adam_step_eps(const ValidationCase& c, int step);

// The batch's totals as code that returns only them gives them: each per-image term reduced
// over the batch by the objective's batch reduction (sum or mean); recon and kl optional.
struct BatchTotals {
  double loss = 0;                // reduce_b loss_b: the scalar the code differentiates
  std::optional<double> recon;    // reduce_b recon_b
  std::optional<double> kl;       // reduce_b kl_b (without the KL weight)
};
BatchTotals batch_totals(const VaeConfig& config, const BatchLosses& per_image);

struct BackendCaseOutputs {
  BatchLosses losses;
  std::vector<double> grad;
  // Set when only the batch's totals are known (losses then empty): the output rows are the
  // totals' ("loss (batch total)", ...), judged against the reference's totals -- want.totals
  // where set (a mistaken objective's own reduction), else batch_totals of want.losses.
  std::optional<BatchTotals> totals;
};

// The totals, in row order: the results file's tensor, the row's name, and the per-image
// quantity whose tolerance applies (expected_outputs.cpp argues why it does).
struct TotalKind {
  const char* key;  // total.loss | total.recon | total.kl
  const char* row;  // "loss (batch total)", ...
  tol::Quantity quantity;
};
inline constexpr TotalKind kTotals[] = {{"total.loss", "loss (batch total)", tol::Quantity::Recon},
                                        {"total.recon", "recon (batch total)", tol::Quantity::Recon},
                                        {"total.kl", "kl (batch total)", tol::Quantity::Kl}};
// Total k of kTotals in `t` (empty when not given), and setting it.
std::optional<double> total_value(const BatchTotals& t, size_t k);
void set_total(BatchTotals& t, size_t k, double value);
// One total's row: `got` against `want` at its tolerance for config's likelihood.
Comparison compare_total(size_t k, const std::vector<double>& got, double want, const VaeConfig& config,
                         const std::string& precision);

// Whether a row of compare_outputs_and_gradients is an output's (not a gradient's).
bool is_output_row(const Comparison& row);

// The rows every judgement of a case's outputs has, in this order: recon, kl, loss and elbo
// per image against `want` (or, when got.totals is set, the totals given: loss, recon, kl of
// the batch), then grad.<name> for each tensor of the layout, at `precision`'s
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

}  // namespace vae
