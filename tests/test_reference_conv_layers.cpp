// The reference conv layers (reference/conv_layers.h) proven without LibTorch: forward
// against a direct loop implementation (a different algorithm: gather loops for conv2d,
// scatter loops for conv_transpose2d, no im2col), the adjoint identity between a conv and
// its transposed conv, PyTorch's output-size formulas, every gradient by central finite
// differences, batch-norm statistics and running updates by hand, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "conv_layers.h"

namespace vae::ref {
namespace {

using ::testing::HasSubstr;
using Vec = std::vector<double>;

constexpr double kUnit = std::numeric_limits<double>::epsilon() / 2;  // unit roundoff u = 2^-53

Vec random_vec(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (double& e : v) e = d(rng);
  return v;
}

constexpr auto conv = &ConvGeometry::conv2d;
constexpr auto tconv = &ConvGeometry::conv_transpose2d;

// The layer by its definition, one term at a time. y gets the result; abs_sum the sum of
// |terms| per output entry (|bias| + sum |w x|), which bounds the rounding error of any
// summation order.
void direct_conv(const ConvGeometry& g, int batch, const Vec& x, const Vec& w, const double* bias, Vec& y,
                 Vec& abs_sum) {
  const int ci_n = g.in_channels, co_n = g.out_channels, k = g.kernel, s = g.stride, p = g.padding;
  const int ih = g.in_h, iw = g.in_w, oh = g.out_h(), ow = g.out_w();
  y.assign(size_t(batch) * co_n * oh * ow, 0.0);
  abs_sum.assign(y.size(), 0.0);
  auto yi = [&](int b, int co, int oy, int ox) { return ((size_t(b) * co_n + co) * oh + oy) * ow + ox; };
  auto xi = [&](int b, int ci, int iy, int ix) { return ((size_t(b) * ci_n + ci) * ih + iy) * iw + ix; };
  if (bias)
    for (int b = 0; b < batch; ++b)
      for (int co = 0; co < co_n; ++co)
        for (int oy = 0; oy < oh; ++oy)
          for (int ox = 0; ox < ow; ++ox) {
            y[yi(b, co, oy, ox)] = bias[co];
            abs_sum[yi(b, co, oy, ox)] = std::abs(bias[co]);
          }
  if (!g.transposed) {
    // Gather: y[b,co,oy,ox] += w[co,ci,ky,kx] x[b,ci,oy*s-p+ky,ox*s-p+kx].
    for (int b = 0; b < batch; ++b)
      for (int co = 0; co < co_n; ++co)
        for (int oy = 0; oy < oh; ++oy)
          for (int ox = 0; ox < ow; ++ox)
            for (int ci = 0; ci < ci_n; ++ci)
              for (int ky = 0; ky < k; ++ky)
                for (int kx = 0; kx < k; ++kx) {
                  const int iy = oy * s - p + ky, ix = ox * s - p + kx;
                  if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
                  const double t = w[((size_t(co) * ci_n + ci) * k + ky) * k + kx] * x[xi(b, ci, iy, ix)];
                  y[yi(b, co, oy, ox)] += t;
                  abs_sum[yi(b, co, oy, ox)] += std::abs(t);
                }
  } else {
    // Scatter (PyTorch's definition): x[b,ci,iy,ix] w[ci,co,ky,kx] lands on y[b,co,iy*s-p+ky,ix*s-p+kx].
    for (int b = 0; b < batch; ++b)
      for (int ci = 0; ci < ci_n; ++ci)
        for (int iy = 0; iy < ih; ++iy)
          for (int ix = 0; ix < iw; ++ix)
            for (int co = 0; co < co_n; ++co)
              for (int ky = 0; ky < k; ++ky)
                for (int kx = 0; kx < k; ++kx) {
                  const int oy = iy * s - p + ky, ox = ix * s - p + kx;
                  if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                  const double t = w[((size_t(ci) * co_n + co) * k + ky) * k + kx] * x[xi(b, ci, iy, ix)];
                  y[yi(b, co, oy, ox)] += t;
                  abs_sum[yi(b, co, oy, ox)] += std::abs(t);
                }
  }
}

struct ConvCase {
  std::string name;
  ConvGeometry g;
  int batch;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }
std::string case_name(const ::testing::TestParamInfo<ConvCase>& i) { return i.param.name; }

std::vector<ConvCase> forward_cases() {
  return {
      {"k3s1p0_2to3_8x8_b3", conv(2, 3, 8, 8, 3, 1, 0), 3},
      {"k5s2p2_3to2_9x9_b1", conv(3, 2, 9, 9, 5, 2, 2), 1},
      {"k4s2p1_1to4_28x28_b2", conv(1, 4, 28, 28, 4, 2, 1), 2},
      {"k4s2p1_3to5_7x7_b3", conv(3, 5, 7, 7, 4, 2, 1), 3},
      {"k1s1p0_4to3_5x5_b3", conv(4, 3, 5, 5, 1, 1, 0), 3},
      {"k3s2p1_2to5_13x11_b3", conv(2, 5, 13, 11, 3, 2, 1), 3},
      {"k4s3p0_2to2_10x7_b1", conv(2, 2, 10, 7, 4, 3, 0), 1},
      {"k2s1p1_3to1_4x6_b3", conv(3, 1, 4, 6, 2, 1, 1), 3},
      {"t_k4s2p1op0_3to2_5x5_b3", tconv(3, 2, 5, 5, 4, 2, 1, 0), 3},
      {"t_k4s2p1op1_4to3_3x3_b1", tconv(4, 3, 3, 3, 4, 2, 1, 1), 1},
      {"t_k3s1p1op0_2to3_6x4_b3", tconv(2, 3, 6, 4, 3, 1, 1, 0), 3},
      {"t_k5s3p2op1_2to3_4x5_b3", tconv(2, 3, 4, 5, 5, 3, 2, 1), 3},
      {"t_k3s3p0op2_3to2_3x2_b1", tconv(3, 2, 3, 2, 3, 3, 0, 2), 1},
      {"t_k2s3p0op0_2to2_3x3_b3", tconv(2, 2, 3, 3, 2, 3, 0, 0), 3},  // kernel < stride: zero gaps
      {"t_k1s1p0op0_4to3_5x3_b3", tconv(4, 3, 5, 3, 1, 1, 0, 0), 3},
      {"t_k4s2p1op1_3to2_13x11_b3", tconv(3, 2, 13, 11, 4, 2, 1, 1), 3},
  };
}

class ConvForward : public ::testing::TestWithParam<ConvCase> {};

// Both compute every output as a sum of the same products in different orders; each order's
// error is at most (terms) u sum|terms| (first order), so they differ by at most twice that.
TEST_P(ConvForward, MatchesDirectLoops) {
  const ConvCase& c = GetParam();
  const ConvGeometry& g = c.g;
  ASSERT_NO_THROW(g.check());
  const Vec x = random_vec(size_t(c.batch * g.in_size()), 1);
  const Vec w = random_vec(size_t(g.weight_size()), 2);
  const Vec bias = random_vec(size_t(g.out_channels), 3);
  for (const double* b : {bias.data(), static_cast<const double*>(nullptr)}) {
    Vec y(size_t(c.batch * g.out_size()), std::nan("")), want, abs_sum;
    conv_forward(g, c.batch, x.data(), w.data(), b, y.data());
    direct_conv(g, c.batch, x, w, b, want, abs_sum);
    ASSERT_EQ(y.size(), want.size());
    const double terms = double(g.in_channels) * g.kernel * g.kernel + 1;
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_LE(std::abs(y[i] - want[i]), 2 * terms * kUnit * abs_sum[i])
          << g.describe() << (b ? " with bias" : " without bias") << ", output entry " << i << ": " << y[i]
          << " vs direct " << want[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvForward, ::testing::ValuesIn(forward_cases()), case_name);

// Output sizes, written out from PyTorch's formulas by hand (not from the code's).
TEST(ConvGeometry, OutputSizesFollowPyTorch) {
  struct Want {
    ConvGeometry g;
    int h, w;
  };
  const std::vector<Want> table = {
      {conv(1, 32, 28, 28, 4, 2, 1), 14, 14},       // conv-mnist encoder
      {conv(32, 64, 14, 14, 4, 2, 1), 7, 7},
      {conv(64, 128, 7, 7, 4, 2, 1), 3, 3},         // floor(5/2) + 1
      {tconv(128, 64, 3, 3, 4, 2, 1, 1), 7, 7},     // conv-mnist decoder: 2*2 - 2 + 4 + 1
      {tconv(64, 32, 7, 7, 4, 2, 1, 0), 14, 14},
      {tconv(32, 1, 14, 14, 4, 2, 1, 0), 28, 28},
      {tconv(128, 64, 3, 3, 4, 2, 1, 0), 6, 6},     // without output_padding the decoder misses 7
      {conv(2, 5, 13, 11, 5, 2, 2), 7, 6},          // floor(12/2)+1, floor(10/2)+1
      {conv(2, 2, 10, 7, 4, 3, 0), 3, 2},
      {conv(3, 1, 4, 6, 2, 1, 1), 5, 7},
      {conv(4, 3, 5, 5, 1, 1, 0), 5, 5},
      {tconv(2, 3, 4, 5, 5, 3, 2, 1), 11, 14},      // 3*3 - 4 + 5 + 1, 4*3 - 4 + 5 + 1
      {tconv(2, 2, 3, 3, 2, 3, 0, 0), 8, 8},
      {tconv(3, 2, 3, 2, 3, 3, 0, 2), 11, 8},
  };
  for (const Want& t : table) {
    EXPECT_NO_THROW(t.g.check()) << t.g.describe();
    EXPECT_EQ(t.g.out_h(), t.h) << t.g.describe();
    EXPECT_EQ(t.g.out_w(), t.w) << t.g.describe();
    EXPECT_EQ(t.g.out_size(), int64_t(t.g.out_channels) * t.h * t.w) << t.g.describe();
  }
}

// The transposed conv mapping a plain conv's output size back to its input size, with the
// same weight array: Cout -> Cin, output_padding making up what the floor dropped.
ConvGeometry adjoint_of(const ConvGeometry& g) {
  const int op_h = (g.in_h + 2 * g.padding - g.kernel) % g.stride;
  const int op_w = (g.in_w + 2 * g.padding - g.kernel) % g.stride;
  EXPECT_EQ(op_h, op_w) << g.describe() << ": pick sizes with one output_padding for both sides";
  return tconv(g.out_channels, g.in_channels, g.out_h(), g.out_w(), g.kernel, g.stride, g.padding, op_h);
}

double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Vec abs_of(Vec v) {
  for (double& e : v) e = std::abs(e);
  return v;
}

// <conv(x), y> = <x, convT(y)> for the same weight: conv_transpose2d is conv2d's adjoint.
TEST(ConvAdjoint, TransposedConvIsTheAdjointWithTheSameWeight) {
  const std::vector<ConvGeometry> plain = {
      conv(1, 32, 28, 28, 4, 2, 1),   // op 0
      conv(64, 128, 7, 7, 4, 2, 1),   // op 1: the decoder's first layer is this one's adjoint
      conv(2, 5, 13, 11, 3, 2, 1),    // non-square
      conv(3, 2, 9, 9, 5, 2, 2),
      conv(2, 3, 8, 8, 3, 1, 0),
      conv(2, 3, 11, 11, 5, 3, 2),    // op 2
      conv(4, 3, 5, 3, 1, 1, 0),
  };
  const int batch = 2;
  for (const ConvGeometry& g : plain) {
    const ConvGeometry t = adjoint_of(g);
    ASSERT_NO_THROW(t.check()) << t.describe();
    ASSERT_EQ(t.out_h(), g.in_h) << t.describe();
    ASSERT_EQ(t.out_w(), g.in_w) << t.describe();
    ASSERT_EQ(t.weight_size(), g.weight_size());
    const Vec x = random_vec(size_t(batch * g.in_size()), 11);
    const Vec y = random_vec(size_t(batch * g.out_size()), 12);
    const Vec w = random_vec(size_t(g.weight_size()), 13);
    Vec conv_x(y.size()), convt_y(x.size()), convt_abs(x.size());
    conv_forward(g, batch, x.data(), w.data(), nullptr, conv_x.data());
    conv_forward(t, batch, y.data(), w.data(), nullptr, convt_y.data());
    const Vec w_abs = abs_of(w), y_abs = abs_of(y);
    conv_forward(t, batch, y_abs.data(), w_abs.data(), nullptr, convt_abs.data());
    // Both sides are sums of the same products x w y; S = sum |x w y| bounds each side's
    // rounding by (depth) u S, depth <= terms per entry + the inner product's length.
    const double scale = dot(abs_of(x), convt_abs);
    const double depth = double(g.in_channels) * g.kernel * g.kernel + double(x.size()) + double(y.size());
    EXPECT_NEAR(dot(conv_x, y), dot(x, convt_y), 2 * depth * kUnit * scale) << g.describe() << " vs " << t.describe();
  }
}

// L = sum(r ⊙ f(theta)); central difference of L along one entry of theta.
template <class F>
double central_difference(Vec& theta, size_t i, double h, const F& loss) {
  const double keep = theta[i];
  theta[i] = keep + h;
  const double up = loss();
  theta[i] = keep - h;
  const double down = loss();
  theta[i] = keep;
  return (up - down) / (2 * h);
}

// Every entry of analytic against its central difference.
template <class F>
void expect_gradient(const char* what, const std::string& where, Vec& theta, const Vec& analytic, double h,
                     double tol, const F& loss) {
  ASSERT_EQ(theta.size(), analytic.size()) << what;
  for (size_t i = 0; i < theta.size(); ++i) {
    const double fd = central_difference(theta, i, h, loss);
    ASSERT_LE(std::abs(fd - analytic[i]), tol * std::max(1.0, std::abs(analytic[i])))
        << where << ": d" << what << "[" << i << "] analytic " << analytic[i] << " vs finite difference " << fd;
  }
}

std::vector<ConvCase> gradient_cases() {
  return {
      {"k3s1p1_2to3_6x5_b2", conv(2, 3, 6, 5, 3, 1, 1), 2},
      {"k4s2p1_2to3_7x7_b2", conv(2, 3, 7, 7, 4, 2, 1), 2},
      {"k5s2p2_1to2_13x11_b1", conv(1, 2, 13, 11, 5, 2, 2), 1},
      {"k1s1p0_3to2_3x4_b3", conv(3, 2, 3, 4, 1, 1, 0), 3},
      {"t_k4s2p1op1_3to2_3x3_b2", tconv(3, 2, 3, 3, 4, 2, 1, 1), 2},
      {"t_k4s2p1op0_2to2_4x3_b2", tconv(2, 2, 4, 3, 4, 2, 1, 0), 2},
      {"t_k3s3p0op2_2to3_3x2_b2", tconv(2, 3, 3, 2, 3, 3, 0, 2), 2},
      {"t_k3s1p1op0_2to2_4x5_b1", tconv(2, 2, 4, 5, 3, 1, 1, 0), 1},
  };
}

class ConvGradient : public ::testing::TestWithParam<ConvCase> {};

// L = sum(r ⊙ conv(x, w) + r ⊙ bias) is affine in each single entry of x, w and bias, so the
// central difference has no truncation error at any h: it is exact up to the rounding of L,
// |dL| ~ u sum|r w x| ~ 1e-15 here, divided by 2h. With h = 1e-3 that is ~1e-12 (measured:
// at most 1.1e-12); the bound 1e-10 (relative above 1) leaves ~100x, and any wrong index or
// dropped term is off by O(1).
TEST_P(ConvGradient, MatchesFiniteDifferences) {
  const ConvCase& c = GetParam();
  const ConvGeometry& g = c.g;
  Vec x = random_vec(size_t(c.batch * g.in_size()), 21);
  Vec w = random_vec(size_t(g.weight_size()), 22);
  Vec bias = random_vec(size_t(g.out_channels), 23);
  const Vec r = random_vec(size_t(c.batch * g.out_size()), 24);
  auto loss = [&] {
    Vec y(r.size());
    conv_forward(g, c.batch, x.data(), w.data(), bias.data(), y.data());
    return dot(r, y);
  };
  Vec dx(x.size()), dw(w.size()), db(bias.size());
  conv_backward(g, c.batch, x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data());
  const double h = 1e-3, tol = 1e-10;
  expect_gradient("x", g.describe(), x, dx, h, tol, loss);
  expect_gradient("weight", g.describe(), w, dw, h, tol, loss);
  expect_gradient("bias", g.describe(), bias, db, h, tol, loss);

  // Each output is optional and independent: skipping dx leaves dweight and dbias unchanged,
  // and results overwrite what was there.
  Vec dw2(w.size(), 123.0), db2(bias.size(), -7.0);
  conv_backward(g, c.batch, x.data(), w.data(), r.data(), nullptr, dw2.data(), db2.data());
  EXPECT_EQ(dw2, dw);
  EXPECT_EQ(db2, db);
  Vec dx2(x.size(), 5.0);
  conv_backward(g, c.batch, x.data(), w.data(), r.data(), dx2.data(), nullptr, nullptr);
  EXPECT_EQ(dx2, dx);
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvGradient, ::testing::ValuesIn(gradient_cases()), case_name);

struct BnCase {
  std::string name;
  int batch, channels, hw;
};
void PrintTo(const BnCase& c, std::ostream* os) { *os << c.name; }

class BatchNormGradient : public ::testing::TestWithParam<BnCase> {};

// L = sum(r ⊙ bn(x)) is nonlinear in x (through mean and sigma): with h = 1e-6 the truncation
// error is h^2/6 |L'''| ~ 1e-13 |L'''| and the rounding u |L| / h ~ 1e-16 * 10 / 1e-6 ~ 1e-9
// (measured: at most 1.9e-9); the bound 1e-7 (relative above 1) leaves ~50x, while dropping
// the mean(dy) or the xhat mean(dy xhat) term moves dx by O(1/sigma). In gamma and beta L is
// affine, so those differences are exact up to rounding.
TEST_P(BatchNormGradient, MatchesFiniteDifferences) {
  const BnCase& c = GetParam();
  const size_t n = size_t(c.batch) * c.channels * c.hw;
  Vec x = random_vec(n, 31, -2.0, 2.0);
  Vec gamma = random_vec(size_t(c.channels), 32, -1.5, 1.5);
  Vec beta = random_vec(size_t(c.channels), 33);
  const Vec r = random_vec(n, 34);
  const double eps = kBatchNormEps;
  auto loss = [&] {
    Vec y(n);
    BatchNormStats s;
    batch_norm_train_forward(c.batch, c.channels, c.hw, x.data(), gamma.data(), beta.data(), eps, y.data(), s);
    return dot(r, y);
  };
  Vec y(n), dx(n), dgamma(gamma.size()), dbeta(beta.size());
  BatchNormStats stats;
  batch_norm_train_forward(c.batch, c.channels, c.hw, x.data(), gamma.data(), beta.data(), eps, y.data(), stats);
  batch_norm_train_backward(c.batch, c.channels, c.hw, x.data(), gamma.data(), stats, eps, r.data(), dx.data(),
                            dgamma.data(), dbeta.data());
  const double h = 1e-6, tol = 1e-7;
  expect_gradient("x", c.name, x, dx, h, tol, loss);
  expect_gradient("gamma", c.name, gamma, dgamma, h, tol, loss);
  expect_gradient("beta", c.name, beta, dbeta, h, tol, loss);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormGradient,
                         ::testing::Values(BnCase{"b3_c2_hw5", 3, 2, 5}, BnCase{"b1_c3_hw4", 1, 3, 4},
                                           BnCase{"b2_c2_hw1", 2, 2, 1}, BnCase{"b4_c1_hw9", 4, 1, 9}),
                         [](const ::testing::TestParamInfo<BnCase>& i) { return i.param.name; });

// A hand example: batch 2, channels 2, hw 2.
//   channel 0 holds {1, 2, 3, 4}:        mean 2.5,   biased var 1.25,   unbiased 5/3
//   channel 1 holds {10, 10.5, 9, 11.5}: mean 10.25, biased var 0.8125, unbiased 3.25/3
const Vec kHandX = {1, 2, 10, 10.5, 3, 4, 9, 11.5};

TEST(BatchNorm, StatisticsAndOutputByHand) {
  const Vec gamma = {2.0, -1.0}, beta = {0.5, 0.0};
  Vec y(kHandX.size());
  BatchNormStats s;
  batch_norm_train_forward(2, 2, 2, kHandX.data(), gamma.data(), beta.data(), kBatchNormEps, y.data(), s);
  ASSERT_EQ(s.mean.size(), 2u);
  EXPECT_DOUBLE_EQ(s.mean[0], 2.5);
  EXPECT_DOUBLE_EQ(s.mean[1], 10.25);
  EXPECT_DOUBLE_EQ(s.var_biased[0], 1.25);
  EXPECT_DOUBLE_EQ(s.var_biased[1], 0.8125);
  const double sig0 = std::sqrt(1.25 + 1e-5), sig1 = std::sqrt(0.8125 + 1e-5);
  const Vec want = {2 * (1 - 2.5) / sig0 + 0.5,      2 * (2 - 2.5) / sig0 + 0.5,
                    -(10 - 10.25) / sig1,            -(10.5 - 10.25) / sig1,
                    2 * (3 - 2.5) / sig0 + 0.5,      2 * (4 - 2.5) / sig0 + 0.5,
                    -(9 - 10.25) / sig1,             -(11.5 - 10.25) / sig1};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-14) << "y[" << i << "]";

  // Without gamma and beta (affine=False) the output is xhat itself.
  Vec xhat(kHandX.size());
  batch_norm_train_forward(2, 2, 2, kHandX.data(), nullptr, nullptr, kBatchNormEps, xhat.data(), s);
  EXPECT_NEAR(xhat[0], (1 - 2.5) / sig0, 1e-15);
  EXPECT_NEAR(xhat[7], (11.5 - 10.25) / sig1, 1e-15);
}

TEST(BatchNorm, RunningUpdateUsesTheUnbiasedVariance) {
  BatchNormStats s;
  Vec y(kHandX.size());
  batch_norm_train_forward(2, 2, 2, kHandX.data(), nullptr, nullptr, kBatchNormEps, y.data(), s);
  Vec rm = {0.5, -1.0}, rv = {2.0, 3.0};
  batch_norm_update_running(s, 4, kBatchNormMomentum, rm.data(), rv.data());
  EXPECT_NEAR(rm[0], 0.9 * 0.5 + 0.1 * 2.5, 1e-15);
  EXPECT_NEAR(rm[1], 0.9 * -1.0 + 0.1 * 10.25, 1e-15);
  EXPECT_NEAR(rv[0], 0.9 * 2.0 + 0.1 * (5.0 / 3.0), 1e-15);     // not 0.1 * 1.25
  EXPECT_NEAR(rv[1], 0.9 * 3.0 + 0.1 * (3.25 / 3.0), 1e-15);   // not 0.1 * 0.8125
  // A second step compounds: running = 0.9 running + 0.1 batch again.
  batch_norm_update_running(s, 4, 0.5, rm.data(), rv.data());
  EXPECT_NEAR(rm[0], 0.5 * (0.9 * 0.5 + 0.1 * 2.5) + 0.5 * 2.5, 1e-15);
}

TEST(BatchNorm, EvalUsesRunningStatistics) {
  // running_var + eps = 4 (to rounding), so sigma = 2.
  const Vec rm = {1.0, -2.0}, rv = {4.0 - 1e-5, 0.25 - 1e-5}, gamma = {3.0, 0.5}, beta = {-1.0, 2.0};
  const Vec x = {3.0, 1.0, 0.0, -2.5};  // batch 2, channels 2, hw 1: values [b][c]
  Vec y(x.size());
  batch_norm_eval_forward(2, 2, 1, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), kBatchNormEps,
                          y.data());
  EXPECT_NEAR(y[0], 3.0 * (3.0 - 1.0) / 2.0 - 1.0, 1e-14);
  EXPECT_NEAR(y[1], 0.5 * (1.0 + 2.0) / 0.5 + 2.0, 1e-14);
  EXPECT_NEAR(y[2], 3.0 * (0.0 - 1.0) / 2.0 - 1.0, 1e-14);
  EXPECT_NEAR(y[3], 0.5 * (-2.5 + 2.0) / 0.5 + 2.0, 1e-14);
  // Evaluation takes one value per channel without complaint (no batch statistics).
  Vec y1(2);
  EXPECT_NO_THROW(batch_norm_eval_forward(1, 2, 1, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                                          kBatchNormEps, y1.data()));
  EXPECT_NEAR(y1[0], y[0], 0.0);
}

// PyTorch: nn.BatchNorm2d (torch.nn.functional.batch_norm, and the C++ frontend's
// torch::nn::functional::batch_norm) raises "Expected more than 1 value per channel when
// training" for a [1, C, 1, 1] input; the raw aten op would return beta and write NaN into
// running_var (0/0). The reference refuses it the same way, with the same words.
TEST(BatchNorm, OneValuePerChannelIsRefusedInTraining) {
  const Vec x = {0.3, -0.7, 1.1};
  Vec y(3);
  BatchNormStats s;
  try {
    batch_norm_train_forward(1, 3, 1, x.data(), nullptr, nullptr, kBatchNormEps, y.data(), s);
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("Expected more than 1 value per channel when training"));
    EXPECT_THAT(e.what(), HasSubstr("[1, 3, 1, 1]"));
  }
  s.mean = {0, 0, 0};
  s.var_biased = {0, 0, 0};
  EXPECT_THROW(batch_norm_train_backward(1, 3, 1, x.data(), nullptr, s, kBatchNormEps, x.data(), y.data(), nullptr,
                                         nullptr),
               Error);
  Vec rm(3, 0.0), rv(3, 1.0);
  try {
    batch_norm_update_running(s, 1, kBatchNormMomentum, rm.data(), rv.data());
    FAIL() << "expected vae::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("at least 2 values per channel, got n = 1"));
  }
  EXPECT_EQ(rv, Vec(3, 1.0)) << "a refused update must leave the running statistics alone";
  // Two values per channel, from either the batch or the spatial size, are fine.
  EXPECT_NO_THROW(batch_norm_train_forward(1, 1, 2, x.data(), nullptr, nullptr, kBatchNormEps, y.data(), s));
  EXPECT_NO_THROW(batch_norm_train_forward(2, 1, 1, x.data(), nullptr, nullptr, kBatchNormEps, y.data(), s));
  EXPECT_NEAR(y[0], (0.3 - (-0.2)) / std::sqrt(0.25 + 1e-5), 1e-14);
}

TEST(BatchNorm, BadArgumentsAreRefused) {
  const Vec x(8, 1.0);
  Vec y(8);
  BatchNormStats s;
  try {
    batch_norm_train_forward(2, 2, 2, x.data(), nullptr, nullptr, -1.0, y.data(), s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("eps must be finite and >= 0"));
  }
  s.mean = {0.0};
  s.var_biased = {1.0};
  try {
    batch_norm_train_backward(2, 2, 2, x.data(), nullptr, s, kBatchNormEps, x.data(), y.data(), nullptr, nullptr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("stats hold 1 means and 1 variances, expected 2"));
  }
  EXPECT_THROW(batch_norm_train_forward(0, 2, 2, x.data(), nullptr, nullptr, kBatchNormEps, y.data(), s), Error);
}

struct BadGeometry {
  ConvGeometry g;
  std::string message;
};

TEST(ConvGeometry, BadGeometryIsRefusedWithTheReason) {
  ConvGeometry op_on_plain = conv(2, 3, 8, 8, 3, 2, 1);
  op_on_plain.output_padding = 1;
  const std::vector<BadGeometry> table = {
      {conv(0, 3, 8, 8, 3, 1, 0), "channels must be positive, got in_channels 0, out_channels 3"},
      {tconv(2, 0, 8, 8, 3, 1, 0, 0), "channels must be positive, got in_channels 2, out_channels 0"},
      {conv(2, 3, 0, 8, 3, 1, 0), "input size must be positive, got 0x8"},
      {conv(2, 3, 8, 8, 0, 1, 0), "kernel must be positive, got 0"},
      {conv(2, 3, 8, 8, 3, 0, 0), "stride must be positive, got 0"},
      {conv(2, 3, 8, 8, 3, 1, -1), "padding must be non-negative, got -1"},
      {op_on_plain, "output_padding 1 applies only to a transposed conv"},
      {tconv(2, 3, 8, 8, 4, 2, 1, 2), "output_padding 2 must be smaller than stride 2"},
      {tconv(2, 3, 8, 8, 3, 1, 0, 1), "output_padding 1 must be smaller than stride 1"},
      {conv(2, 3, 3, 3, 5, 1, 0), "kernel 5 is larger than the padded input 3x3"},
      {conv(2, 3, 3, 9, 6, 1, 1), "kernel 6 is larger than the padded input 5x11"},
      {tconv(2, 3, 1, 1, 1, 1, 1, 0), "output size -1x-1 is not positive"},
  };
  for (const BadGeometry& t : table) {
    try {
      t.g.check();
      ADD_FAILURE() << t.g.describe() << ": expected vae::Error containing \"" << t.message << "\"";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(t.message));
      EXPECT_THAT(e.what(), HasSubstr(t.g.describe())) << "the message names the layer";
    }
    // The entry points check too, before touching any memory.
    EXPECT_THROW(conv_forward(t.g, 1, nullptr, nullptr, nullptr, nullptr), Error) << t.g.describe();
    EXPECT_THROW(conv_backward(t.g, 1, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), Error);
  }
  // out_h() of a refused geometry is never a plausible size: floor((3 - 4)/2) + 1 = 0, where
  // C++'s truncating division would give 1.
  EXPECT_LE(conv(2, 3, 3, 3, 4, 2, 0).out_h(), 0);
  EXPECT_EQ(conv(2, 3, 3, 3, 5, 1, 0).describe(), "conv2d(2->3, k5 s1 p0) on 3x3");
  EXPECT_EQ(tconv(128, 64, 3, 3, 4, 2, 1, 1).describe(), "conv_transpose2d(128->64, k4 s2 p1 op1) on 3x3");

  const ConvGeometry good = conv(2, 3, 8, 8, 3, 1, 0);
  const Vec v(1000, 0.0);
  Vec out(1000);
  try {
    conv_forward(good, 0, v.data(), v.data(), nullptr, out.data());
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("conv2d(2->3, k3 s1 p0) on 8x8: conv_forward: batch must be positive, got 0"));
  }
  EXPECT_THROW(conv_forward(good, 1, v.data(), nullptr, nullptr, out.data()), Error);
}

// conv-mnist at batch 128, forward and backward through every layer: the reference must be
// cheap enough to judge backends at full batch (and to run under AddressSanitizer).
TEST(ConvMnist, FullBatchForwardBackward) {
  const int batch = 128;
  const std::vector<ConvGeometry> layers = {
      conv(1, 32, 28, 28, 4, 2, 1),       conv(32, 64, 14, 14, 4, 2, 1),     conv(64, 128, 7, 7, 4, 2, 1),
      tconv(128, 64, 3, 3, 4, 2, 1, 1),  tconv(64, 32, 7, 7, 4, 2, 1, 0), tconv(32, 1, 14, 14, 4, 2, 1, 0)};
  const auto start = std::chrono::steady_clock::now();
  Vec a = random_vec(size_t(batch) * 28 * 28, 41, 0.0, 1.0);
  std::vector<Vec> acts = {a}, weights;
  for (size_t l = 0; l < layers.size(); ++l) {
    const ConvGeometry& g = layers[l];
    ASSERT_EQ(acts.back().size(), size_t(batch * g.in_size())) << g.describe();
    weights.push_back(random_vec(size_t(g.weight_size()), 50 + l, -0.1, 0.1));
    const Vec bias = random_vec(size_t(g.out_channels), 60 + l, -0.1, 0.1);
    Vec y(size_t(batch * g.out_size()));
    conv_forward(g, batch, acts.back().data(), weights.back().data(), bias.data(), y.data());
    acts.push_back(std::move(y));
  }
  ASSERT_EQ(acts.back().size(), size_t(batch) * 28 * 28);  // the decoder lands on 28x28 again
  Vec d = random_vec(acts.back().size(), 70);
  for (size_t l = layers.size(); l-- > 0;) {
    const ConvGeometry& g = layers[l];
    Vec dx(acts[l].size()), dw(weights[l].size()), db(size_t(g.out_channels));
    conv_backward(g, batch, acts[l].data(), weights[l].data(), d.data(), dx.data(), dw.data(), db.data());
    for (double v : dw) ASSERT_TRUE(std::isfinite(v)) << g.describe();
    d = std::move(dx);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("seconds", std::to_string(seconds));
  std::printf("conv-mnist batch %d, 6 layers forward + backward: %.3f s\n", batch, seconds);
}

}  // namespace
}  // namespace vae::ref
