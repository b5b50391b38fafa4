#include "external_checks.h"
#include "precision_claim.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

#include "diagnosis.h"
#include "gradient_compare.h"
#include "running_stats_compare.h"
#include "model/layers.h"
#include "common/error.h"
#include "io/safetensors.h"
#include "model/results_file.h"
#include "tolerances.h"

namespace vae {

namespace fs = std::filesystem;

namespace {

std::vector<double> slice(const std::vector<double>& flat, const ParamView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

double total(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

std::string meta(const CaseResultsFile& r, const std::string& key) {
  const auto it = r.metadata.find(key);
  return it == r.metadata.end() ? std::string() : it->second;
}

// Takes `value` for `field` when it is still unset; a later file that disagrees gets a note.
void merge(std::string& field, const std::string& value, const char* key, CaseResult& r) {
  if (value.empty()) return;
  if (field.empty() || field == "unknown") field = value;
  else if (field != value)
    r.notes.push_back(std::string("metadata ") + key + " '" + value + "' differs from '" + field + "' of earlier files");
}

// Judges the tensors of one readable results file; `path` names it in notes.
void judge(const CaseResultsFile& file, const std::string& precision, const ValidationCase& c,
           const ExpectedOutputs& expected, int adam_steps, CaseResult& r) {
  auto& out = r.comparisons;
  const auto tol = [&](tol::Quantity q) -> const tol::Tolerance& {
    return tol::backend(q, precision, c.config.likelihood);
  };
  const auto compare = [&](const std::string& name, const std::vector<double>& want, tol::Quantity q) {
    const ResultsTensor& t = file.tensors.at(name);
    out.push_back(t.usable() ? compare_normwise(name.substr(name.find('.') + 1), t.values, want, tol(q))
                             : failed_comparison(name.substr(name.find('.') + 1), tol(q), name + ": " + t.problem));
  };
  // The same quantity names as the built-in backends' rows: recon, kl, loss, elbo, grad.<name>.
  if (file.totals.empty()) {
    compare("out.recon", expected.losses.recon, tol::Quantity::Recon);
    compare("out.kl", expected.losses.kl, tol::Quantity::Kl);
    compare("out.loss", expected.losses.loss, tol::Quantity::Recon);
    compare("out.elbo", expected.losses.elbo, tol::Quantity::Recon);
  } else {
    // Totals only (compare_outputs_and_gradients' rows for them): what is not given is not
    // judged, and the notes say so.
    const BatchTotals want = batch_totals(c.config, expected.losses);
    const auto has = [&](const char* key) { return file.tensors.count(key) > 0; };
    for (size_t k = 0; k < std::size(kTotals); ++k) {
      if (!has(kTotals[k].key)) continue;
      const ResultsTensor& t = file.tensors.at(kTotals[k].key);
      out.push_back(t.usable() ? compare_total(k, t.values, *total_value(want, k), c.config, precision)
                               : failed_comparison(kTotals[k].row, tol(kTotals[k].quantity),
                                                   std::string(kTotals[k].key) + ": " + t.problem));
    }
    std::string missing = has("total.recon") ? "" : "recon";
    if (!has("total.kl")) missing += missing.empty() ? "kl" : " and kl";
    r.notes.push_back("only the batch's totals were given (total.*), so the per-image values were not judged" +
                      (missing.empty() ? std::string() : "; nor the " + missing + " total (not given)"));
  }
  const ParamLayout layout(c.config);
  for (size_t k = 0; k < layout.views().size(); ++k) {
    const ParamView& v = layout.views()[k];
    const ResultsTensor& t = file.tensors.at("grad." + v.name);
    const tol::Tolerance& g = gradient_tolerance(layout, precision, k, c.config.likelihood);
    out.push_back(t.usable() ? compare_gradient_tensor("grad." + v.name, layout, k, t.values, expected.grad, g)
                             : failed_comparison("grad." + v.name, g, t.problem));
  }
  const BufferLayout& buffers = layout.model().buffers();
  if (buffers.total() > 0 && !file.has_running) {
    r.notes.push_back("batch norm's running statistics (optional) were not judged: the file has no running.* tensors");
  } else if (buffers.total() > 0) {
    std::vector<double> running;
    std::string problems;
    for (const BufferView& b : buffers.views()) {
      const ResultsTensor& t = file.tensors.at("running." + b.name);
      if (!t.usable()) problems += (problems.empty() ? "" : "; ") + ("running." + b.name + ": " + t.problem);
      running.insert(running.end(), t.values.begin(), t.values.end());
    }
    const tol::Tolerance& tr = tol(tol::Quantity::RunningStats);
    if (!problems.empty())
      out.push_back(failed_comparison("running (batch norm)", tr, problems));
    else
      for (Comparison& cmp : compare_running_stats("running", buffers, running, expected.running,
                                                   buffers.initial_values(), tr))
        out.push_back(std::move(cmp));
  }
  if (!file.has_adam) {
    r.notes.push_back(std::string("the Adam steps (optional) were not judged: ") +
                      (adam_steps > 0 ? "the file has no adam.* tensors" : "--adam-steps 0"));
    return;
  }
  const std::string steps = std::to_string(adam_steps);
  // The Adam results are free-running: N steps from the same start with the same noise, then
  // compared. That comparison cannot be judged (validation/tolerances.h, adam-step): a gradient
  // entry whose true value lies below the precision's rounding can move by ~lr either way under
  // Adam's normalisation, after which two correct trajectories part without a local bound (the
  // built-in backends are judged step by step at their own point instead, which needs each
  // step's gradient). So the figures are shown, not judged; what is wrong with the tensors
  // themselves (missing, wrong shape, NaN) still fails.
  const auto shown = [](Comparison c) {
    c.check = "not judged";
    c.judged = false;
    c.percent_of_tolerance = 0;
    c.passed = true;
    return c;
  };
  r.notes.push_back("the Adam steps are shown, not judged: a free-running trajectory has no local error bound "
                    "(docs/case-format.md)");
  const ResultsTensor& loss = file.tensors.at("adam.loss");
  const tol::Tolerance& tl = tol(tol::Quantity::AdamLoss);
  if (loss.usable()) {
    // Per step, as the built-in backends are judged: the batch loss before step s.
    std::vector<Comparison> per_step;
    for (int s = 0; s < adam_steps; ++s)
      per_step.push_back(
          compare_normwise("adam.loss", {loss.values[size_t(s)]}, {total(expected.step_losses[size_t(s)].loss)}, tl));
    out.push_back(shown(worst_of(per_step, "adam.loss (worst of " + steps + " Adam steps)")));
  } else {
    out.push_back(failed_comparison("adam.loss (worst of " + steps + " Adam steps)", tl, "adam.loss: " + loss.problem));
  }
  std::vector<double> params;
  std::string problems;
  for (const ParamView& v : layout.views()) {
    const ResultsTensor& t = file.tensors.at("adam.param." + v.name);
    if (!t.usable()) problems += (problems.empty() ? "" : "; ") + ("adam.param." + v.name + ": " + t.problem);
    params.insert(params.end(), t.values.begin(), t.values.end());
  }
  const std::string name = "adam.params (after " + steps + " Adam steps)";
  const tol::Tolerance& tp = tol(tol::Quantity::AdamParams);
  out.push_back(problems.empty() ? shown(compare_normwise(name, params, expected.step_params[size_t(adam_steps) - 1], tp))
                                 : failed_comparison(name, tp, problems));
}

// The file's declared objective against the case's: "" when absent or the same, else the refusal.
std::string objective_mismatch(const CaseResultsFile& file, const ValidationCase& c, const std::string& path) {
  const std::string stated = meta(file, "objective");
  if (stated.empty()) return "";
  const nlohmann::json want = to_json(c.config.objective, c.config.likelihood);
  try {
    const Objective declared = objective_from_json(nlohmann::json::parse(stated), c.config.likelihood);
    if (declared == c.config.objective) return "";
    return path + ": metadata objective " + to_json(declared, c.config.likelihood).dump() +
           " differs from the case's objective " + want.dump() +
           " (declare the same objective to validate --external as to cases export, or drop the file's)";
  } catch (const std::exception& e) {
    return path + ": metadata objective is not an objective for the case's " + to_string(c.config.likelihood) +
           " likelihood: " + e.what() + "; the case's is " + want.dump();
  }
}

// What the file reports, when every tensor the diagnosis needs is usable.
std::optional<Observed> observed(const CaseResultsFile& file, const ParamLayout& layout) {
  Observed o;
  if (!file.totals.empty()) {
    BatchTotals totals;
    for (size_t k = 0; k < std::size(kTotals); ++k) {
      const auto it = file.tensors.find(kTotals[k].key);
      if (it == file.tensors.end()) continue;
      if (!it->second.usable()) return std::nullopt;
      set_total(totals, k, it->second.values[0]);
    }
    o.totals = totals;
  }
  for (const auto& [key, target] : {std::pair<const char*, std::vector<double>*>{"out.recon", &o.losses.recon},
                                    {"out.kl", &o.losses.kl},
                                    {"out.loss", &o.losses.loss},
                                    {"out.elbo", &o.losses.elbo}}) {
    if (o.totals) break;
    const ResultsTensor& t = file.tensors.at(key);
    if (!t.usable()) return std::nullopt;
    *target = t.values;
  }
  for (const ParamView& v : layout.views()) {
    const ResultsTensor& t = file.tensors.at("grad." + v.name);
    if (!t.usable()) return std::nullopt;
    o.grad.insert(o.grad.end(), t.values.begin(), t.values.end());
  }
  if (file.has_running)
    for (const BufferView& b : layout.model().buffers().views()) {
      const ResultsTensor& t = file.tensors.at("running." + b.name);
      if (!t.usable()) return std::nullopt;
      o.running.insert(o.running.end(), t.values.begin(), t.values.end());
    }
  return o;
}

}  // namespace

std::string results_path(const ExternalImplementation& impl, const ValidationCase& c) {
  return impl.file.empty() ? (fs::path(impl.dir) / (c.name + ".safetensors")).string() : impl.file;
}

BackendResults external_results(const ExternalImplementation& impl) {
  BackendResults r;
  r.backend = impl.name;
  r.kind = "external";
  r.source = impl.dir;
  r.device = "unknown";
  r.precision = impl.precision;
  return r;
}

void check_external_case(const ExternalImplementation& impl, const ValidationCase& c, const CaseInputs& in,
                         const ExpectedOutputs& expected, int adam_steps, BackendResults& results) {
  const auto start = std::chrono::steady_clock::now();
  CaseResult r;
  r.vcase = c;
  r.x_source = in.x_source;
  const std::string path = results_path(impl, c);
  // Failures of the file as a whole are judged against the loss tolerance of the precision
  // asked for (fp32 when none could be read), so the row still says which bound applied.
  const auto all_passed = [&] {
    bool ok = !r.comparisons.empty();
    for (const Comparison& cmp : r.comparisons) ok &= cmp.passed;
    return ok;
  };
  const auto file_failure = [&](const std::string& why) {
    const std::string p = find_precision(impl.precision) ? impl.precision : "fp32";
    r.comparisons.push_back(failed_comparison("results file", tol::backend(tol::Quantity::Recon, p), why));
  };
  try {
    if (!fs::exists(path)) {
      file_failure(path + ": missing (no results for case " + c.name + ")");
    } else {
      const CaseResultsFile file = read_case_results(read_safetensors(path), ParamLayout(c.config), c.batch, adam_steps);
      std::string precision = impl.precision;
      const std::string stated = meta(file, "precision");
      if (precision.empty()) precision = stated;
      else if (!stated.empty() && stated != precision)
        r.notes.push_back("judged at --external-precision " + precision + "; the file says '" + stated + "'");
      merge(results.device, meta(file, "device"), "device", r);
      merge(results.implementation, meta(file, "implementation"), "implementation", r);
      if (!file.unexpected.empty()) {
        std::string names;
        for (const std::string& n : file.unexpected) names += (names.empty() ? "" : ", ") + n;
        r.notes.push_back("ignored tensors that are not part of the format: " + names);
      }
      if (precision.empty()) {
        file_failure(path + ": metadata has no \"precision\"; write one of " + precision_names() +
                     " there or pass --external-precision");
      } else if (!find_precision(precision)) {
        file_failure(path + ": metadata precision '" + precision + "' has no tolerances; known: " + precision_names());
      } else if (const std::string mismatch = objective_mismatch(file, c, path); !mismatch.empty()) {
        file_failure(mismatch);
      } else {
        if (impl.precision.empty()) merge(results.precision, precision, "precision", r);
        judge(file, precision, c, expected, adam_steps, r);
        if (const std::string loose = loosely_judged_note(r, precision); !loose.empty()) r.notes.push_back(loose);
        if (!all_passed()) {
          const ParamLayout layout(c.config);
          if (const std::optional<Observed> got = observed(file, layout)) {
            const Diagnosis d = diagnose(c, in, precision, *got);
            r.diagnosis = d.text;
            r.named_mistakes = d.named;
          } else {
            r.diagnosis = "not diagnosed: some out.*, total.* or grad.* tensor is unusable (see the rows above)";
          }
        }
      }
    }
  } catch (const Error& e) {  // not safetensors at all: truncated, garbage, unreadable
    file_failure(e.what());
  }
  r.passed = all_passed();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  results.cases.push_back(std::move(r));
}

void check_stray_results(const ExternalImplementation& impl, const std::vector<std::string>& known,
                         BackendResults& results) {
  std::vector<std::string> stray;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(impl.dir, ec)) {
    const fs::path p = e.path();
    if (p.extension() != ".safetensors") continue;
    if (std::find(known.begin(), known.end(), p.stem().string()) == known.end()) stray.push_back(p.string());
  }
  if (ec) results.problems.push_back(impl.dir + ": cannot list the folder: " + ec.message());
  std::sort(stray.begin(), stray.end());
  for (const std::string& s : stray)
    results.problems.push_back(s + ": results for a case that does not exist (see `vaebench cases export --help`)");
}

}  // namespace vae
