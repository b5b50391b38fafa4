#include "gradient_compare.h"

#include <cmath>
#include <limits>

#include "model/layers.h"
#include "tolerances.h"

namespace vae {

namespace {
std::vector<double> slice(const std::vector<double>& flat, const ParamView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}
}  // namespace

const tol::Tolerance& gradient_tolerance(const ParamLayout& layout, const std::string& precision, size_t view,
                                         Likelihood likelihood) {
  int layers = 0;
  bool output_layer = false;
  for (const DerivedLayer& l : layout.model().layers()) {
    layers += !(l.role == LayerRole::Head && l.index == 1);  // log-variance runs beside mu
    // A dense output layer's (tolerances.h: bf16-gradient-output). A conv output layer shares
    // its weights over every pixel, where the forward's correlated logit errors add up.
    if (l.role == LayerRole::Output && l.spec.kind == LayerKind::Dense) output_layer |= view == l.weight || view == l.bias;
  }
  const tol::Tolerance& t = tol::gradient(precision, layers, output_layer);
  return likelihood == Likelihood::ContinuousBernoulli ? tol::continuous_bernoulli_gradient(t, precision) : t;
}

size_t gradient_scale_view(const ParamLayout& layout, size_t t) {
  for (const DerivedLayer& l : layout.model().layers())
    if (l.bn_weight && l.bias == t) return l.weight;
  return t;
}

SplitByEffect split_by_effect(const ParamLayout& layout, const std::vector<double>& flat) {
  SplitByEffect s;
  const auto& views = layout.views();
  for (size_t t = 0; t < views.size(); ++t) {
    std::vector<double>& to = gradient_scale_view(layout, t) == t ? s.effective : s.vanishing;
    to.insert(to.end(), flat.begin() + long(views[t].offset), flat.begin() + long(views[t].offset + views[t].size));
  }
  return s;
}

Comparison compare_gradient_tensor(const std::string& quantity, const ParamLayout& layout, size_t t,
                                   const std::vector<double>& got, const std::vector<double>& want,
                                   const tol::Tolerance& tol) {
  const auto& views = layout.views();
  const ParamView& v = views[t];
  const std::vector<double> g = got.size() == layout.total() ? slice(got, v) : got, w = slice(want, v);
  Comparison c = compare_normwise(quantity, g, w, tol);
  const size_t scale_view = gradient_scale_view(layout, t);
  if (scale_view == t || g.size() != w.size()) return c;
  double diff = 0;
  for (size_t i = 0; i < g.size(); ++i) diff += (g[i] - w[i]) * (g[i] - w[i]);
  const double scale = norm(slice(want, views[scale_view]));
  const bool finite = std::isfinite(diff);
  c.norm_rel = scale > 0 ? std::sqrt(diff) / scale : (diff > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  c.percent_of_tolerance = finite ? 100.0 * c.norm_rel / tol.norm_rel : std::numeric_limits<double>::infinity();
  c.passed = finite && c.norm_rel <= tol.norm_rel;
  c.note = "vanishes identically (a bias before batch norm): judged against ||grad " + views[scale_view].name + "||";
  return c;
}

}  // namespace vae
