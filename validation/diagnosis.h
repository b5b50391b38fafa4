#pragma once
// The mistake named: when an implementation fails a case, its outputs and gradients are judged
// again against the reference with each known mistake switched on, with the same comparisons
// and tolerances as against the spec. A mistake is named only where every judged quantity lies
// within tolerance of it; where the outputs match one and the gradients do not, that is said
// instead; where nothing matches, that is said plainly.
//
// The catalogue (known_mistakes()) is the registry: each entry says which class of public bug
// it is, when the case can tell it apart from the spec (beta missing needs beta != 1), and how
// to compute it -- another objective or configuration given to the reference (a batch mean
// where the sum is declared, beta twice), other noise (ignored, shared), or a reference with one
// mistake switched on (ref::Deviation: std = exp(logvar), the KL over the latent averaged, ...).
// Tests, docs and reports iterate over it.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "backend/backend.h"
#include "cases.h"
#include "compare.h"
#include "expected_outputs.h"
#include "vae_reference.h"

namespace vae {

// What a mistaken implementation computes for a case: the reference of this config, with this
// deviation, on this noise.
struct MistakenCase {
  VaeConfig config;
  ref::Deviation deviation;
  std::vector<double> eps;
};

struct KnownMistake {
  std::string name;     // "kl-mean-over-latent"
  std::string kind;     // the class of public bug, e.g. "KL reduction"
  // Whether the mistake changes anything on this case (beta missing needs beta != 1, ...).
  bool (*applies)(const ValidationCase& c);
  // The mistake's formula with the case's numbers: "kl = KL / 20 (Z): a mean over the latent
  // dimensions where the ELBO sums them".
  std::string (*formula)(const ValidationCase& c);
  MistakenCase (*apply)(const ValidationCase& c, const CaseInputs& in);
};

// Every known mistake, in a fixed order.
const std::vector<KnownMistake>& known_mistakes();
const KnownMistake& known_mistake(const std::string& name);  // throws vae::Error listing the names

// What an implementation reported for a case.
struct Observed {
  BatchLosses losses;             // per image; empty when only `totals` are known
  std::optional<BatchTotals> totals;  // the batch's totals, when that is all the code gives
  std::vector<double> grad;     // the flat layout
  std::vector<double> running;  // batch norm's running statistics after the forward; empty: not given
};

struct MistakeMatch {
  std::string name, formula;
  double worst_percent = 0;     // the largest % of tolerance over the judged quantities
  std::string worst_quantity;
  bool outputs_match = false;   // recon, kl, loss and elbo (or the totals given) within tolerance
  bool everything_matches = false;
  size_t gradients_off = 0, gradients = 0;  // gradient tensors outside tolerance, of how many
};

struct Diagnosis {
  bool ran = false;                 // false: the case passed, or the results were incomplete
  std::vector<std::string> named;   // mistakes every quantity matches (empty: none)
  std::string text;                 // the line for tables and reports
  std::vector<MistakeMatch> candidates;  // every applicable mistake, in catalogue order
};

// Judges `got` against each applicable known mistake at `precision`'s tolerances.
Diagnosis diagnose(const ValidationCase& c, const CaseInputs& in, const std::string& precision, const Observed& got);

nlohmann::json to_json(const Diagnosis& d);

}  // namespace vae
