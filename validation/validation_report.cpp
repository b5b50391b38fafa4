#include "validation_report.h"

#include <cmath>
#include <cstdio>

namespace vae {

namespace {

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%9.2e", v);
  return buf;
}

// JSON has no inf/NaN: report them as strings so the document stays valid and honest.
nlohmann::json number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

}  // namespace

bool BackendResults::passed() const {
  bool ok = !cases.empty() && problems.empty();
  for (const CaseResult& c : cases) ok &= c.passed;
  return ok;
}

void print_case_table(std::ostream& os, const CaseResult& r) {
  os << "case " << r.vcase.name << ": " << r.vcase.config.summary() << ", B=" << r.vcase.batch << "\n"
     << "  x: " << r.x_source << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-44s %-12s %9s %9s %9s %8s  %s\n", "quantity", "check", "max abs",
                "max rel", "norm rel", "% tol", "result");
  os << line;
  for (const Comparison& c : r.comparisons) {
    char pct[32];  // tiny shares in scientific notation, so they don't all read "0.00%"
    if (!c.judged)
      std::snprintf(pct, sizeof pct, "-");  // no tolerance applies: no share of one
    else
      std::snprintf(pct, sizeof pct, c.percent_of_tolerance >= 0.01 ? "%.2f%%" : "%.1e%%", c.percent_of_tolerance);
    std::snprintf(line, sizeof line, "  %-44s %-12s %s %s %s %8s  %s\n", c.quantity.c_str(), c.check.c_str(),
                  sci(c.max_abs).c_str(), sci(c.max_rel).c_str(), sci(c.norm_rel).c_str(), pct,
                  !c.judged ? "not judged" : c.passed ? "pass" : "FAIL");
    os << line;
    if (!c.note.empty()) os << "      " << c.quantity << ": " << c.note << "\n";
  }
  for (const std::string& n : r.notes) os << "  note: " << n << "\n";
  if (!r.diagnosis.empty()) os << "  diagnosis: " << r.diagnosis << "\n";
  std::snprintf(line, sizeof line, "  => %s (%zu checks, %.1f s)\n\n", r.passed ? "PASS" : "FAIL",
                r.comparisons.size(), r.seconds);
  os << line;
}

nlohmann::json to_json(const Comparison& c) {
  nlohmann::json j = {{"quantity", c.quantity},       {"check", c.check},
                      {"tolerance", c.tolerance_name}, {"count", c.count},
                      {"max_abs", number(c.max_abs)},  {"max_rel", number(c.max_rel)},
                      {"norm_rel", number(c.norm_rel)}, {"percent_of_tolerance", number(c.percent_of_tolerance)},
                      {"judged", c.judged}, {"passed", c.passed}};
  if (!c.note.empty()) j["note"] = c.note;
  return j;
}

nlohmann::json to_json(const CaseResult& r) {
  nlohmann::json comparisons = nlohmann::json::array();
  for (const Comparison& c : r.comparisons) comparisons.push_back(to_json(c));
  nlohmann::json config = to_json(r.vcase.config);
  config["batch"] = r.vcase.batch;
  nlohmann::json j = {{"name", r.vcase.name}, {"config", config},   {"x", r.x_source},
                      {"passed", r.passed},   {"seconds", r.seconds}, {"comparisons", comparisons}};
  if (!r.notes.empty()) j["notes"] = r.notes;
  if (!r.diagnosis.empty()) j["diagnosis"] = {{"text", r.diagnosis}, {"named", r.named_mistakes}};
  return j;
}

nlohmann::json validation_document(const std::vector<BackendResults>& results, const nlohmann::json& manifest) {
  nlohmann::json backends = nlohmann::json::object();
  bool all = !results.empty();
  for (const BackendResults& b : results) {
    nlohmann::json cases = nlohmann::json::array();
    for (const CaseResult& c : b.cases) cases.push_back(to_json(c));
    nlohmann::json& entry = backends[b.backend] = {
        {"passed", b.passed()}, {"kind", b.kind}, {"device", b.device}, {"precision", b.precision}, {"cases", cases}};
    if (!b.not_supported.empty()) entry["not_supported"] = b.not_supported;
    if (b.kind == "external")
      entry.update({{"source", b.source}, {"implementation", b.implementation}, {"problems", b.problems}});
    all &= b.passed();
  }
  return {{"passed", all}, {"manifest", manifest}, {"backends", backends}};
}

}  // namespace vae
