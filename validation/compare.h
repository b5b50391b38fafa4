#pragma once
// Comparing a computed quantity with the expected one, reported the same way everywhere:
// max abs error, max rel error, norm-wise relative error and "% of tolerance".
#include <string>
#include <vector>

#include "tolerances.h"

namespace vae {

struct Comparison {
  std::string quantity;  // "recon", "grad.enc.0.weight", "fd.dec.out.bias", ...
  std::string check;     // "norm-wise" or "element-wise"
  std::string tolerance_name;
  size_t count = 0;           // values compared
  double max_abs = 0;         // max |got - want|
  double max_rel = 0;         // max |got - want| / |want| over entries with want != 0
  double norm_rel = 0;        // ||got - want||_2 / ||want||_2 (0 when both are zero)
  double percent_of_tolerance = 0;  // 100 = exactly at the bound; > 100 fails
  bool passed = false;
  // false: shown for information only, no tolerance applies (the free-running Adam figures:
  // adam.drift, an external implementation's adam.loss and adam.params). Such a row has check
  // "not judged" and passed true, and reports show "not judged" instead of a verdict.
  bool judged = true;
  std::string note;  // why it failed beyond the numbers: "2 non-finite values", "missing", ...
};

// A quantity that could not be compared at all (missing, misshapen): a failure with the reason.
Comparison failed_comparison(const std::string& quantity, const tol::Tolerance& tol, const std::string& why);

// A pass/fail finding that is not a numerical distance (an image count, a non-finite record,
// bitwise agreement): check "exact", 0 % of tolerance when ok, else failed with `why`.
Comparison exact_finding(const std::string& quantity, bool ok, const std::string& why);

// Norm-wise: passes when norm_rel <= tol.norm_rel. When want is all zero, got must be too.
Comparison compare_normwise(const std::string& quantity, const std::vector<double>& got,
                            const std::vector<double>& want, const tol::Tolerance& tol);

// Element-wise (gradcheck): passes when |got_i - want_i| <= atol + rtol * |want_i| for all i.
Comparison compare_elementwise(const std::string& quantity, const std::vector<double>& got,
                               const std::vector<double>& want, const tol::Tolerance& tol);

// The comparison with the largest % of tolerance, renamed; for "worst over N steps".
Comparison worst_of(const std::vector<Comparison>& comparisons, const std::string& quantity);
// The comparison of the median share of the tolerance (the upper median, so a majority of the
// comparisons lie at or below it), named "quantity (median of N Adam steps; the worst at P% of
// tolerance)": for quantities where
// an isolated excess has a known innocent cause (validation/backend_checks.cpp, Adam's
// per-step gradients) and a real error shows in most of them.
Comparison median_of(const std::vector<Comparison>& comparisons, const std::string& quantity);

}  // namespace vae
