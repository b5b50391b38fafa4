#include "running_stats_compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace vae {

namespace {

std::vector<double> slice(const std::vector<double>& flat, const BufferView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

double norm_of_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s);
}

double norm(const std::vector<double>& a) { return norm_of_difference(a, std::vector<double>(a.size(), 0.0)); }

// The share of the running variance itself in its scale (running_stats_compare.h).
constexpr double kStoredShare = 1e-2;

}  // namespace

std::vector<Comparison> compare_running_stats(const std::string& prefix, const BufferLayout& buffers,
                                              const std::vector<double>& got, const std::vector<double>& want,
                                              const std::vector<double>& before, const tol::Tolerance& tol) {
  std::vector<Comparison> out;
  const auto& views = buffers.views();
  // BufferLayout keeps each batch-norm layer's three buffers together: mean, var, count.
  for (size_t i = 0; i + 2 < views.size(); i += 3) {
    const BufferView &mv = views[i], &vv = views[i + 1], &cv = views[i + 2];
    if (mv.kind != BufferKind::RunningMean || vv.kind != BufferKind::RunningVar || cv.kind != BufferKind::BatchCount)
      throw Error("compare_running_stats: buffers " + mv.name + ", " + vv.name + ", " + cv.name +
                  " are not one layer's mean, variance and count");
    const std::string layer = mv.name.substr(0, mv.name.rfind(".running_mean"));
    const std::string quantity = prefix + "." + layer;
    const std::vector<double> gm = slice(got, mv), wm = slice(want, mv), gv = slice(got, vv), wv = slice(want, vv),
                              bv = slice(before, vv);
    std::vector<double> g = gm, w = wm;
    g.insert(g.end(), gv.begin(), gv.end());
    w.insert(w.end(), wv.begin(), wv.end());
    Comparison c = compare_normwise(quantity, g, w, tol);  // count, max abs, max rel, finiteness
    if (!std::isfinite(c.norm_rel)) {
      out.push_back(c);
      continue;
    }
    // m * sigma and m * sigma^2 per channel: the batch's unbiased variance is
    // (want_var - (1 - m) before_var) / m.
    double spread = 0, update = 0;
    for (size_t k = 0; k < wv.size(); ++k) {
      const double batch_var = std::max(0.0, (wv[k] - (1.0 - kBatchNormMomentum) * bv[k]) / kBatchNormMomentum);
      spread += kBatchNormMomentum * kBatchNormMomentum * batch_var;
      update += kBatchNormMomentum * kBatchNormMomentum * batch_var * batch_var;
    }
    const double mean_scale = std::sqrt(norm(wm) * norm(wm) + spread);
    const double var_scale = std::sqrt(update + kStoredShare * kStoredShare * norm(wv) * norm(wv));
    const double d_mean = norm_of_difference(gm, wm), d_var = norm_of_difference(gv, wv);
    const auto relative = [](double d, double scale) {
      return scale > 0 ? d / scale : (d > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    };
    c.norm_rel = std::max(relative(d_mean, mean_scale), relative(d_var, var_scale));
    c.percent_of_tolerance = 100.0 * c.norm_rel / tol.norm_rel;
    c.passed = c.norm_rel <= tol.norm_rel;
    if (got[cv.offset] != want[cv.offset]) {
      c.passed = false;
      c.note = "num_batches_tracked " + std::to_string(int64_t(got[cv.offset])) + ", expected " +
               std::to_string(int64_t(want[cv.offset]));
    }
    out.push_back(c);
  }
  return out;
}

void RunningStatsOverSteps::add(const std::vector<Comparison>& step_rows) {
  layers_.resize(step_rows.size());
  for (size_t k = 0; k < step_rows.size(); ++k) layers_[k].push_back(step_rows[k]);
}

std::vector<Comparison> RunningStatsOverSteps::worst(const std::string& suffix) const {
  std::vector<Comparison> out;
  for (const std::vector<Comparison>& layer : layers_) out.push_back(worst_of(layer, layer.front().quantity + suffix));
  return out;
}

}  // namespace vae
