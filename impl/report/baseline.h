#pragma once
// Comparing a run with an earlier one (vaebench report --baseline OLD.json), the way Google
// Benchmark's tools/compare.py does: per benchmark, the relative change of the median time,
// and a two-sided Mann-Whitney U test over the repetitions' times.
//
// Flagged as a change only when it is larger than the measured noise:
//   |change| > max(3 x the larger coefficient of variation of the two runs, 1%)
// and, when both runs have at least 4 repetitions (the fewest at which the exact test can
// reach p < 0.05), also p < 0.05. With fewer repetitions the noise band alone decides, and
// the report says the test was not possible.
#include <optional>
#include <string>
#include <vector>

#include "report/bench_results.h"

namespace vae::report {

// Two-sided p-value of the Mann-Whitney U test of samples a and b: exact (the null
// distribution of U counted) for up to 20 values each without ties, else the normal
// approximation with tie and continuity corrections. nullopt when either is empty.
std::optional<double> mann_whitney_p(const std::vector<double>& a, const std::vector<double>& b);

struct BaselineRow {
  std::string run_name;
  double old_seconds = 0, new_seconds = 0;
  double change = 0;          // new/old - 1 of the median time: +0.10 = 10% slower
  double noise = 0;           // the band a change must exceed (fraction)
  std::optional<double> p;    // U test, when both have >= 4 repetitions
  bool flagged = false;
  std::string verdict;        // "slower", "faster" or "within noise"
};

struct BaselineComparison {
  std::vector<BaselineRow> rows;      // benchmarks present and measured in both
  std::vector<std::string> only_old;  // benchmarks the new run lacks (or failed)
  std::vector<std::string> only_new;
};

BaselineComparison compare_with_baseline(const std::vector<BenchRow>& old_rows, const std::vector<BenchRow>& new_rows);

}  // namespace vae::report
