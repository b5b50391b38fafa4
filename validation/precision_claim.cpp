#include "precision_claim.h"

#include <cstdio>
#include <map>

#include "tolerances.h"

namespace vae {

namespace {

// The fp32 bound of each of `precision`'s backend bounds, by name.
std::map<std::string, const tol::Tolerance*> fp32_counterparts(const std::string& precision) {
  std::map<std::string, const tol::Tolerance*> out;
  for (int q = 0; q <= int(tol::Quantity::RunningStats); ++q)
    out[tol::backend(tol::Quantity(q), precision).name] = &tol::backend(tol::Quantity(q), "fp32");
  for (int layers : {1, 100})
    for (bool output : {false, true})
      out[tol::gradient(precision, layers, output).name] = &tol::gradient("fp32", layers, output);
  return out;
}

}  // namespace

std::string loosely_judged_note(const CaseResult& r, const std::string& precision) {
  const std::optional<Precision> p = find_precision(precision);
  if (!p || *p == Precision::fp32 || *p == Precision::fp64) return "";
  const std::map<std::string, const tol::Tolerance*> fp32 = fp32_counterparts(precision);
  int rows = 0;
  double worst = 0.0;  // the largest share of its fp32 bound
  for (const Comparison& c : r.comparisons) {
    if (!c.judged || c.check != "norm-wise") continue;
    const auto it = fp32.find(c.tolerance_name);
    if (it == fp32.end() || it->second->norm_rel <= 0) continue;
    const double share = c.norm_rel / it->second->norm_rel;
    if (!(share <= 1.0)) return "";  // NaN included: not an fp32 result
    worst = std::max(worst, share);
    ++rows;
  }
  if (rows == 0) return "";
  char text[400];
  std::snprintf(text, sizeof text,
                "judged loosely: all %d rows judged at %s's bounds are within fp32's as well (the worst at %.0f%% of "
                "its fp32 bound) -- an fp32 computation reported as %s? (autocast not engaged, a mislabelled file)",
                rows, precision.c_str(), 100.0 * worst, precision.c_str());
  return text;
}

}  // namespace vae
