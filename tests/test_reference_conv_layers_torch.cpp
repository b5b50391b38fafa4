// The reference conv layers (reference/conv_layers.h) against LibTorch float64: forward and
// autograd gradients of every input and parameter for torch::conv2d, torch::conv_transpose2d
// (with output_padding) and torch::batch_norm (training mode with the running-statistics
// update, and evaluation mode), on several geometries including conv-mnist's layers.
//
// Bound: norm-wise relative 1e-12. Both sides compute the same float64 sums in different
// orders (torch: its own im2col/vol2col + BLAS, or a direct kernel), so each entry differs by
// at most ~2 m u sum|terms| for m terms (first order, u = 2^-53). Sums here have m <= 1024
// terms (64 channels x 4x4 kernel; the weight gradients sum 588 = 3 x 14 x 14 positions),
// which bounds an entry at ~2e-13 sum|terms|; rounding errors of random data add like a
// random walk, so the norm-wise error is ~sqrt(m) u ~ 1e-14 of the norm or less: measured at
// most 1.3e-15 here. 1e-12 leaves ~800x over what is seen and still fails on any real
// mistake (a wrong index, a dropped term, a float32 path are all >= 1e-7). Batch norm adds a
// sqrt and a division per channel (a few u each) and the same summations; its dx is judged
// against the size of its terms (bn_dx_scale below says why).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/error.h"
#include "conv_layers.h"

namespace vae::ref {
namespace {

using Vec = std::vector<double>;
constexpr double kBound = 1e-12;

Vec random_vec(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (double& e : v) e = d(rng);
  return v;
}

torch::Tensor tensor(const Vec& v, std::vector<int64_t> sizes, bool grad = false) {
  return torch::from_blob(const_cast<double*>(v.data()), sizes, torch::kFloat64).clone().requires_grad_(grad);
}

Vec values(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous();
  return Vec(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double norm(const Vec& v) {
  double s = 0.0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

// ||ref - torch|| / scale, scale defaulting to ||torch|| (absolute when that is zero).
double relative(const Vec& ref, const torch::Tensor& want, double scale = -1.0) {
  const Vec w = values(want);
  EXPECT_EQ(ref.size(), w.size());
  Vec diff(std::min(ref.size(), w.size()));
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = ref[i] - w[i];
  if (scale < 0.0) scale = norm(w);
  return scale > 0.0 ? norm(diff) / scale : norm(diff);
}

// The size of the terms whose sum is batch norm's dx, (|gamma|/sigma)(|dy| + |mean(dy)| +
// |xhat mean(dy xhat)|): dx itself can be far smaller. With n = 2 values per channel,
// xhat = +-sqrt(var / (var + eps)) and dx = (gamma/sigma)(dy1 - dy2)/2 (1 - xhat^2), where
// 1 - xhat^2 = eps / (var + eps) ~ 1e-5: every float64 implementation loses ~5 digits to
// that cancellation, so dx is judged relative to its terms, the conditioning-aware bound.
double bn_dx_scale(int batch, int channels, int hw, const Vec& x, const Vec& gamma, const BatchNormStats& s,
                   const Vec& dy) {
  Vec terms(x.size());
  for (int c = 0; c < channels; ++c) {
    const double inv_sigma = 1.0 / std::sqrt(s.var_biased[c] + kBatchNormEps);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int b = 0; b < batch; ++b)
      for (int i = 0; i < hw; ++i) {
        const size_t at = (size_t(b) * channels + c) * hw + i;
        sum_dy += dy[at];
        sum_dy_xhat += dy[at] * (x[at] - s.mean[c]) * inv_sigma;
      }
    const double n = double(batch) * hw;
    for (int b = 0; b < batch; ++b)
      for (int i = 0; i < hw; ++i) {
        const size_t at = (size_t(b) * channels + c) * hw + i;
        const double xhat = (x[at] - s.mean[c]) * inv_sigma;
        terms[at] = std::abs(gamma[c]) * inv_sigma *
                    (std::abs(dy[at]) + std::abs(sum_dy / n) + std::abs(xhat * sum_dy_xhat / n));
      }
  }
  return norm(terms);
}

constexpr auto conv = &ConvGeometry::conv2d;
constexpr auto tconv = &ConvGeometry::conv_transpose2d;

struct ConvCase {
  std::string name;
  ConvGeometry g;
  int batch;
};
void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class ConvTorch : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvTorch, ForwardAndGradientsMatchAutograd) {
  const ConvCase& c = GetParam();
  const ConvGeometry& g = c.g;
  const int64_t b = c.batch, k = g.kernel;
  const Vec x = random_vec(size_t(b * g.in_size()), 1);
  const Vec w = random_vec(size_t(g.weight_size()), 2);
  const Vec bias = random_vec(size_t(g.out_channels), 3);
  const Vec r = random_vec(size_t(b * g.out_size()), 4);

  torch::Tensor tx = tensor(x, {b, g.in_channels, g.in_h, g.in_w}, true);
  const std::vector<int64_t> wshape = g.transposed ? std::vector<int64_t>{g.in_channels, g.out_channels, k, k}
                                                   : std::vector<int64_t>{g.out_channels, g.in_channels, k, k};
  torch::Tensor tw = tensor(w, wshape, true);
  torch::Tensor tb = tensor(bias, {g.out_channels}, true);
  torch::Tensor ty = g.transposed ? torch::conv_transpose2d(tx, tw, tb, g.stride, g.padding, g.output_padding)
                                  : torch::conv2d(tx, tw, tb, g.stride, g.padding);
  ASSERT_EQ(ty.sizes().vec(), (std::vector<int64_t>{b, g.out_channels, g.out_h(), g.out_w()})) << g.describe();
  (ty * tensor(r, ty.sizes().vec())).sum().backward();

  Vec y(r.size()), dx(x.size()), dw(w.size()), db(bias.size());
  conv_forward(g, c.batch, x.data(), w.data(), bias.data(), y.data());
  conv_backward(g, c.batch, x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data());
  EXPECT_LE(relative(y, ty), kBound) << g.describe() << ": y";
  EXPECT_LE(relative(dx, tx.grad()), kBound) << g.describe() << ": dx";
  EXPECT_LE(relative(dw, tw.grad()), kBound) << g.describe() << ": dweight";
  EXPECT_LE(relative(db, tb.grad()), kBound) << g.describe() << ": dbias";
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, ConvTorch,
    ::testing::Values(ConvCase{"mnist_enc1_b3", conv(1, 32, 28, 28, 4, 2, 1), 3},
                      ConvCase{"mnist_enc3_b2", conv(64, 128, 7, 7, 4, 2, 1), 2},
                      ConvCase{"mnist_dec1_op1_b2", tconv(128, 64, 3, 3, 4, 2, 1, 1), 2},
                      ConvCase{"mnist_dec3_b3", tconv(32, 1, 14, 14, 4, 2, 1, 0), 3},
                      ConvCase{"k3s1p0_b1", conv(3, 4, 8, 8, 3, 1, 0), 1},
                      ConvCase{"k5s2p2_13x11_b3", conv(2, 5, 13, 11, 5, 2, 2), 3},
                      ConvCase{"k1s1p0_b2", conv(4, 3, 5, 6, 1, 1, 0), 2},
                      ConvCase{"k4s3p0_10x7_b2", conv(2, 3, 10, 7, 4, 3, 0), 2},
                      ConvCase{"t_k3s1p1_6x4_b3", tconv(2, 3, 6, 4, 3, 1, 1, 0), 3},
                      ConvCase{"t_k5s3p2op2_4x5_b2", tconv(3, 2, 4, 5, 5, 3, 2, 2), 2},
                      ConvCase{"t_k2s3p0_3x3_b1", tconv(2, 2, 3, 3, 2, 3, 0, 0), 1},
                      ConvCase{"t_k4s2p1op1_13x11_b2", tconv(3, 4, 13, 11, 4, 2, 1, 1), 2}),
    [](const ::testing::TestParamInfo<ConvCase>& i) { return i.param.name; });

struct BnCase {
  std::string name;
  int batch, channels, h, w;
};
void PrintTo(const BnCase& c, std::ostream* os) { *os << c.name; }

class BatchNormTorch : public ::testing::TestWithParam<BnCase> {};

// Training mode, three steps in a row: batch statistics (native_batch_norm's saved mean and
// inverse std), output, the running update (momentum 0.1, unbiased variance), and autograd's
// gradients of x, gamma and beta; then evaluation with the running statistics reached.
TEST_P(BatchNormTorch, TrainingAndEvalMatchTorch) {
  const BnCase& c = GetParam();
  const int hw = c.h * c.w;
  const int64_t n = int64_t(c.batch) * hw;
  const std::vector<int64_t> shape = {c.batch, c.channels, c.h, c.w};
  const size_t size = size_t(n) * c.channels;
  const Vec gamma = random_vec(size_t(c.channels), 5, -1.5, 1.5), beta = random_vec(size_t(c.channels), 6);
  Vec rm = random_vec(size_t(c.channels), 7), rv = random_vec(size_t(c.channels), 8, 0.5, 2.0);
  torch::Tensor trm = tensor(rm, {c.channels}), trv = tensor(rv, {c.channels});

  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    // Values off centre and off unit scale, so the mean and variance both matter.
    Vec x = random_vec(size, 10 + step, -2.0, 2.0);
    for (double& v : x) v = 3.0 * v + 1.5;
    const Vec r = random_vec(size, 20 + step);

    torch::Tensor tx = tensor(x, shape, true), tg = tensor(gamma, {c.channels}, true);
    torch::Tensor tbeta = tensor(beta, {c.channels}, true);
    const auto [saved_out, saved_mean, saved_invstd] = torch::native_batch_norm(
        tx.detach(), tg.detach(), tbeta.detach(), {}, {}, true, kBatchNormMomentum, kBatchNormEps);
    torch::Tensor ty = torch::batch_norm(tx, tg, tbeta, trm, trv, /*training=*/true, kBatchNormMomentum,
                                         kBatchNormEps, /*cudnn_enabled=*/false);
    (ty * tensor(r, shape)).sum().backward();

    Vec y(size), dx(size), dg(gamma.size()), dbeta(beta.size());
    BatchNormStats stats;
    batch_norm_train_forward(c.batch, c.channels, hw, x.data(), gamma.data(), beta.data(), kBatchNormEps, y.data(),
                             stats);
    batch_norm_update_running(stats, n, kBatchNormMomentum, rm.data(), rv.data());
    batch_norm_train_backward(c.batch, c.channels, hw, x.data(), gamma.data(), stats, kBatchNormEps, r.data(),
                              dx.data(), dg.data(), dbeta.data());
    Vec invstd(stats.var_biased.size());
    for (size_t i = 0; i < invstd.size(); ++i) invstd[i] = 1.0 / std::sqrt(stats.var_biased[i] + kBatchNormEps);

    EXPECT_LE(relative(stats.mean, saved_mean), kBound) << c.name << ": batch mean";
    EXPECT_LE(relative(invstd, saved_invstd), kBound) << c.name << ": 1/sqrt(var + eps)";
    EXPECT_LE(relative(y, ty), kBound) << c.name << ": y";
    EXPECT_LE(relative(rm, trm), kBound) << c.name << ": running_mean";
    EXPECT_LE(relative(rv, trv), kBound) << c.name << ": running_var";
    const double dx_scale = bn_dx_scale(c.batch, c.channels, hw, x, gamma, stats, r);
    EXPECT_LE(relative(dx, tx.grad(), dx_scale), kBound) << c.name << ": dx, relative to its terms";
    EXPECT_LE(relative(dg, tg.grad()), kBound) << c.name << ": dgamma";
    EXPECT_LE(relative(dbeta, tbeta.grad()), kBound) << c.name << ": dbeta";
  }

  const Vec x = random_vec(size, 30, -3.0, 3.0);
  Vec y(size);
  batch_norm_eval_forward(c.batch, c.channels, hw, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                          kBatchNormEps, y.data());
  const torch::Tensor ty = torch::batch_norm(tensor(x, shape), tensor(gamma, {c.channels}),
                                             tensor(beta, {c.channels}), trm, trv, /*training=*/false,
                                             kBatchNormMomentum, kBatchNormEps, false);
  EXPECT_LE(relative(y, ty), kBound) << c.name << ": eval y";
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormTorch,
                         ::testing::Values(BnCase{"b3_c4_5x6", 3, 4, 5, 6}, BnCase{"b1_c2_3x3", 1, 2, 3, 3},
                                           BnCase{"b2_c3_1x1", 2, 3, 1, 1}, BnCase{"b8_c16_7x7", 8, 16, 7, 7}),
                         [](const ::testing::TestParamInfo<BnCase>& i) { return i.param.name; });

// One value per channel: the C++ frontend's batch norm (as nn.BatchNorm2d) refuses it in
// training; the reference refuses it with the same words.
TEST(BatchNormTorch, OneValuePerChannelIsRefusedLikeTorch) {
  const std::string expected = "Expected more than 1 value per channel when training";
  namespace F = torch::nn::functional;
  const torch::Tensor x = torch::randn({1, 3, 1, 1}, torch::kFloat64);
  try {
    F::batch_norm(x, torch::zeros({3}, torch::kFloat64), torch::ones({3}, torch::kFloat64),
                  F::BatchNormFuncOptions().training(true));
    ADD_FAILURE() << "torch accepted one value per channel in training";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  const Vec v = values(x);
  Vec y(3);
  BatchNormStats s;
  try {
    batch_norm_train_forward(1, 3, 1, v.data(), nullptr, nullptr, kBatchNormEps, y.data(), s);
    ADD_FAILURE() << "the reference accepted one value per channel in training";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vae::ref
