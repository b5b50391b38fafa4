#include "compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace vae {

namespace {

// The error statistics every check reports (count, max abs/rel, norm-wise); `finite` is
// set false when any value is inf or NaN.
Comparison measure(const std::string& quantity, const char* check, const tol::Tolerance& tol,
                   const std::vector<double>& got, const std::vector<double>& want, bool& finite) {
  Comparison c;
  c.quantity = quantity;
  c.check = check;
  c.tolerance_name = tol.name;
  if (got.size() != want.size())
    throw Error("compare " + c.quantity + ": " + std::to_string(got.size()) + " values against " +
                std::to_string(want.size()));
  c.count = got.size();
  double diff2 = 0, want2 = 0;
  finite = true;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(got[i] - want[i]);
    finite &= std::isfinite(got[i]) && std::isfinite(want[i]);
    c.max_abs = std::max(c.max_abs, d);
    if (want[i] != 0) c.max_rel = std::max(c.max_rel, d / std::abs(want[i]));
    diff2 += d * d;
    want2 += want[i] * want[i];
  }
  size_t non_finite = 0;
  for (double g : got) non_finite += !std::isfinite(g);
  if (non_finite) c.note = std::to_string(non_finite) + " non-finite value(s) (NaN or Inf)";
  c.norm_rel = diff2 == 0 ? 0.0 : (want2 == 0 ? std::numeric_limits<double>::infinity()
                                              : std::sqrt(diff2) / std::sqrt(want2));
  return c;
}

}  // namespace

Comparison exact_finding(const std::string& quantity, bool ok, const std::string& why) {
  if (!ok) return failed_comparison(quantity, tol::kBackendFp64, why);
  Comparison c = compare_normwise(quantity, {0.0}, {0.0}, tol::kBackendFp64);
  c.check = "exact";
  return c;
}

Comparison compare_normwise(const std::string& quantity, const std::vector<double>& got,
                            const std::vector<double>& want, const tol::Tolerance& tol) {
  bool finite = true;
  Comparison c = measure(quantity, "norm-wise", tol, got, want, finite);
  c.percent_of_tolerance = 100.0 * c.norm_rel / tol.norm_rel;
  c.passed = finite && c.norm_rel <= tol.norm_rel;
  if (!finite) c.percent_of_tolerance = std::numeric_limits<double>::infinity();
  return c;
}

Comparison compare_elementwise(const std::string& quantity, const std::vector<double>& got,
                               const std::vector<double>& want, const tol::Tolerance& tol) {
  bool finite = true;
  Comparison c = measure(quantity, "element-wise", tol, got, want, finite);
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(got[i] - want[i]) / (tol.atol + tol.rtol * std::abs(want[i])));
  c.percent_of_tolerance = finite ? 100.0 * worst : std::numeric_limits<double>::infinity();
  c.passed = finite && worst <= 1.0;
  return c;
}

Comparison failed_comparison(const std::string& quantity, const tol::Tolerance& tol, const std::string& why) {
  Comparison c;
  c.quantity = quantity;
  c.check = "norm-wise";
  c.tolerance_name = tol.name;
  c.max_abs = c.max_rel = c.norm_rel = c.percent_of_tolerance = std::numeric_limits<double>::infinity();
  c.note = why;
  return c;
}

Comparison worst_of(const std::vector<Comparison>& comparisons, const std::string& quantity) {
  if (comparisons.empty()) throw Error("worst_of " + quantity + ": nothing to compare");
  // A failure outranks any pass; among equals, the larger share of the tolerance.
  const auto rank = [](const Comparison& c) { return std::make_pair(!c.passed, c.percent_of_tolerance); };
  Comparison worst = *std::max_element(comparisons.begin(), comparisons.end(),
                                       [&](const Comparison& a, const Comparison& b) { return rank(a) < rank(b); });
  worst.quantity = quantity;
  return worst;
}

Comparison median_of(const std::vector<Comparison>& comparisons, const std::string& quantity) {
  if (comparisons.empty()) throw Error("median_of " + quantity + ": nothing to compare");
  std::vector<Comparison> sorted = comparisons;
  const auto share = [](const Comparison& a, const Comparison& b) { return a.percent_of_tolerance < b.percent_of_tolerance; };
  std::sort(sorted.begin(), sorted.end(), share);
  Comparison median = sorted[sorted.size() / 2];  // the upper median: a majority of steps at or below it
  const Comparison& worst = sorted.back();
  median.quantity = quantity + " (median of " + std::to_string(comparisons.size()) + " Adam steps; the worst at " +
                    std::to_string(int(worst.percent_of_tolerance + 0.5)) + "% of tolerance)";
  return median;
}

}  // namespace vae
