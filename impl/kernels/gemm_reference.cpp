#include "kernels/gemm_reference.h"

#include <cmath>

namespace vae::kernels::gemm::reference {

double activate(Activation act, double v) {
  switch (act) {
    case Activation::relu: return v > 0 ? v : 0;
    case Activation::tanh: return std::tanh(v);
    default: return v;
  }
}

double prologue(Activation act, double dy, double y) {
  switch (act) {
    case Activation::relu: return y > 0 ? dy : 0;
    case Activation::tanh: return dy * (1 - y * y);
    default: return dy;
  }
}

namespace {

double input(const Layer& l, long long at) { return l.x_bytes.empty() ? double(l.x[at]) : l.x_bytes[at] / 255.0; }

// G = dY ⊙ act'(Y) in double, from the float dY and Y the kernel reads.
double gradient(const Layer& l, long long at) {
  return prologue(l.activation, l.dy[at], l.y.empty() ? 0.0 : double(l.y[at]));
}

}  // namespace

Expected forward(const Layer& l) {
  Expected e;
  e.accumulation_length = l.in;
  e.want.resize(std::size_t(l.batch) * l.out);
  e.scale.resize(e.want.size());
  for (int m = 0; m < l.batch; ++m)
    for (int n = 0; n < l.out; ++n) {
      double sum = 0, scale = 0;
      for (int k = 0; k < l.in; ++k) {
        const double product = input(l, 1ll * m * l.in + k) * double(l.weight[std::size_t(n) * l.in + k]);
        sum += product;
        scale += std::fabs(product);
      }
      const double bias = l.bias.empty() ? 0.0 : double(l.bias[n]);
      const double want = activate(l.activation, sum + bias);
      e.want[std::size_t(m) * l.out + n] = want;
      e.scale[std::size_t(m) * l.out + n] = scale + std::fabs(bias) + std::fabs(want);
    }
  return e;
}

BackwardExpected backward(const Layer& l) {
  const int M = l.batch, K = l.in, N = l.out;
  std::vector<double> g(std::size_t(M) * N), dy_abs(g.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    g[i] = gradient(l, (long long)i);
    dy_abs[i] = std::fabs(double(l.dy[i]));  // |act'| <= 1: the scale of |G| (tolerances.h)
  }
  BackwardExpected b;
  b.dx.accumulation_length = N;
  b.dx.want.assign(std::size_t(M) * K, 0.0);
  b.dx.scale.assign(b.dx.want.size(), 0.0);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      const double gv = g[std::size_t(m) * N + n], ga = dy_abs[std::size_t(m) * N + n];
      const float* w = &l.weight[std::size_t(n) * K];
      double* want = &b.dx.want[std::size_t(m) * K];
      double* scale = &b.dx.scale[std::size_t(m) * K];
      for (int k = 0; k < K; ++k) {
        want[k] += gv * w[k];
        scale[k] += ga * std::fabs(double(w[k]));
      }
    }
  b.dw.accumulation_length = M;
  b.dw.want.assign(std::size_t(N) * K, 0.0);
  b.dw.scale.assign(b.dw.want.size(), 0.0);
  b.db.accumulation_length = M;
  b.db.want.assign(std::size_t(N), 0.0);
  b.db.scale.assign(std::size_t(N), 0.0);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      const double gv = g[std::size_t(m) * N + n], ga = dy_abs[std::size_t(m) * N + n];
      double* want = &b.dw.want[std::size_t(n) * K];
      double* scale = &b.dw.scale[std::size_t(n) * K];
      for (int k = 0; k < K; ++k) {
        const double x = input(l, 1ll * m * K + k);
        want[k] += gv * x;
        scale[k] += ga * std::fabs(x);
      }
      b.db.want[n] += gv;
      b.db.scale[n] += ga;
    }
  for (Expected* e : {&b.dx, &b.dw, &b.db})
    for (std::size_t i = 0; i < e->want.size(); ++i) e->scale[i] += std::fabs(e->want[i]);
  return b;
}

Comparison compare(const std::vector<float>& got, const Expected& e, const tol::GemmTolerance& t) {
  Comparison c;
  const double elementwise_bound = t.elementwise(e.accumulation_length);
  const double normwise_bound = t.normwise(e.accumulation_length);
  double diff2 = 0, want2 = 0;
  long long worst_at = -1, nan_at = -1;
  for (std::size_t i = 0; i < got.size() && i < e.want.size(); ++i) {
    if (!std::isfinite(got[i])) {
      if (nan_at < 0) nan_at = (long long)i;
      continue;
    }
    const double d = std::fabs(double(got[i]) - e.want[i]);
    diff2 += d * d;
    want2 += e.normwise_of_scale ? e.scale[i] * e.scale[i] : e.want[i] * e.want[i];
    c.max_abs = std::max(c.max_abs, d);
    if (e.want[i] != 0) c.max_rel = std::max(c.max_rel, d / std::fabs(e.want[i]));
    // scale = 0 means want = 0 exactly from all-zero terms: any difference fails.
    const double ratio = d == 0 ? 0.0 : e.scale[i] > 0 ? d / e.scale[i] : INFINITY;
    if (ratio > c.worst_elementwise) {
      c.worst_elementwise = ratio;
      worst_at = (long long)i;
    }
  }
  c.norm_rel = want2 > 0 ? std::sqrt(diff2 / want2) : (diff2 > 0 ? INFINITY : 0.0);
  c.percent_of_tolerance = 100.0 * std::max(c.worst_elementwise / elementwise_bound, c.norm_rel / normwise_bound);
  const bool complete = got.size() == e.want.size() && nan_at < 0;
  c.pass = complete && c.worst_elementwise <= elementwise_bound && c.norm_rel <= normwise_bound;
  if (!complete) c.percent_of_tolerance = INFINITY;
  c.worst_index = c.pass ? -1 : nan_at >= 0 ? nan_at : worst_at;
  return c;
}

}  // namespace vae::kernels::gemm::reference
