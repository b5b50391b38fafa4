#include "report/baseline.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace vae::report {

namespace {

constexpr int kMinRepetitionsForTest = 4;
constexpr double kAlpha = 0.05;

// U of `a` against `b`: pairs (x in a, y in b) with x > y, ties counting one half.
double u_statistic(const std::vector<double>& a, const std::vector<double>& b) {
  double u = 0;
  for (double x : a)
    for (double y : b) u += x > y ? 1.0 : (x == y ? 0.5 : 0.0);
  return u;
}

bool has_ties(std::vector<double> all) {
  std::sort(all.begin(), all.end());
  return std::adjacent_find(all.begin(), all.end()) != all.end();
}

// P(U <= u) under the null, by counting: f(m, n, u) arrangements of m + n ranks with U = u
// satisfy f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u).
double exact_cdf(int m, int n, int u) {
  std::vector<std::vector<std::vector<double>>> f(
      size_t(m) + 1, std::vector<std::vector<double>>(size_t(n) + 1, std::vector<double>(size_t(m * n) + 1, 0.0)));
  for (int i = 0; i <= m; ++i)
    for (int j = 0; j <= n; ++j)
      for (int k = 0; k <= i * j; ++k) {
        if (i == 0 || j == 0) {
          f[i][j][k] = k == 0 ? 1 : 0;
          continue;
        }
        f[i][j][k] = (k >= j ? f[i - 1][j][k - j] : 0.0) + (k <= i * (j - 1) ? f[i][j - 1][k] : 0.0);
      }
  double total = 0, below = 0;
  for (int k = 0; k <= m * n; ++k) {
    total += f[m][n][k];
    if (k <= u) below += f[m][n][k];
  }
  return below / total;
}

}  // namespace

std::optional<double> mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) return std::nullopt;
  const double m = double(a.size()), n = double(b.size());
  const double u = u_statistic(a, b);
  const double u_small = std::min(u, m * n - u);
  std::vector<double> all(a);
  all.insert(all.end(), b.begin(), b.end());
  if (a.size() <= 20 && b.size() <= 20 && !has_ties(all))
    return std::min(1.0, 2.0 * exact_cdf(int(a.size()), int(b.size()), int(std::lround(u_small))));
  // Normal approximation, variance corrected for ties.
  std::sort(all.begin(), all.end());
  double tie_term = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j] == all[i]) ++j;
    const double t = double(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  const double N = m + n;
  const double var = m * n / 12.0 * ((N + 1) - tie_term / (N * (N - 1)));
  if (var <= 0) return 1.0;
  const double z = (std::abs(u - m * n / 2.0) - 0.5) / std::sqrt(var);
  return std::min(1.0, std::erfc(std::max(0.0, z) / std::sqrt(2.0)));
}

BaselineComparison compare_with_baseline(const std::vector<BenchRow>& old_rows, const std::vector<BenchRow>& new_rows) {
  BaselineComparison out;
  std::map<std::string, const BenchRow*> old_by_name;
  for (const BenchRow& r : old_rows)
    if (!r.failed) old_by_name[r.run_name] = &r;
  std::map<std::string, bool> seen;
  for (const BenchRow& r : new_rows) {
    if (r.failed) continue;
    auto it = old_by_name.find(r.run_name);
    if (it == old_by_name.end()) {
      out.only_new.push_back(r.run_name);
      continue;
    }
    seen[r.run_name] = true;
    const BenchRow& o = *it->second;
    BaselineRow row;
    row.run_name = r.run_name;
    row.old_seconds = o.median_seconds;
    row.new_seconds = r.median_seconds;
    row.change = o.median_seconds > 0 ? r.median_seconds / o.median_seconds - 1 : 0;
    row.noise = std::max(3.0 * std::max(o.cv, r.cv), 0.01);
    const bool testable = int(o.seconds.size()) >= kMinRepetitionsForTest && int(r.seconds.size()) >= kMinRepetitionsForTest;
    if (testable) row.p = mann_whitney_p(o.seconds, r.seconds);
    row.flagged = std::abs(row.change) > row.noise && (!row.p || *row.p < kAlpha);
    row.verdict = !row.flagged ? "within noise" : (row.change > 0 ? "slower" : "faster");
    out.rows.push_back(row);
  }
  for (const auto& [name, row] : old_by_name)
    if (!seen.count(name)) out.only_old.push_back(name);
  return out;
}

}  // namespace vae::report
