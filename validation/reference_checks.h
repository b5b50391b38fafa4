#pragma once
// The reference's own proof, per case:
//   1. finite differences: central differences on every parameter tensor (every entry of
//      small tensors; a seeded sample of entries plus one directional derivative over the
//      whole tensor for large ones), gradcheck tolerances;
//   2. LibTorch float64 autograd of the same math on the same inputs: recon, KL, loss,
//      ELBO and every gradient tensor;
//   3. ten Adam steps against torch::optim::Adam in double, fresh eps each step;
//   4. the importance-weighted log-likelihood against a LibTorch logsumexp.
#include <string>
#include <vector>

#include "cases.h"
#include "compare.h"
#include "vae_reference.h"

namespace vae {

struct CaseResult {
  ValidationCase vcase;
  std::string x_source;
  std::vector<Comparison> comparisons;
  bool passed = false;
  double seconds = 0;
  std::vector<std::string> notes;  // what a reader should know beyond the table (external results)
  // A failing case judged against the known mistakes (validation/diagnosis.h): the line to show,
  // and the mistakes every quantity matches. Empty text: no diagnosis ran (the case passed, or
  // its results were incomplete).
  std::string diagnosis;
  std::vector<std::string> named_mistakes;
};

struct ReferenceCheckOptions {
  size_t fd_entries_per_tensor = 24;  // sampled entries for tensors larger than fd_full_below
  size_t fd_full_below = 64;          // tensors this small are checked entry by entry
  double fd_step = 1e-6;
  int adam_steps = 10;
  int iw_samples = 16;
};

CaseResult check_reference(const ValidationCase& c, const CaseInputs& in, const ReferenceCheckOptions& opt = {});

// Check 1 alone, against a given analytic gradient: one comparison per parameter tensor. The
// finite differences are of the scalar the reference differentiates (the batch objective, of
// the reference with `deviation` switched on: ref::VaeReference::differentiated_terms).
std::vector<Comparison> finite_difference_checks(const VaeConfig& config, const CaseInputs& in, int batch,
                                                 const std::vector<double>& grad, const ReferenceCheckOptions& opt = {},
                                                 const ref::Deviation& deviation = {});

}  // namespace vae
