// The batch-norm family (impl/kernels/batch_norm/batch_norm.cu), every version, against the
// double-precision BatchNorm2d of reference/conv_layers: every batch-norm layer of the presets
// and odd sizes, training forward (with the running statistics and the count), evaluation and
// backward, each activation; bitwise-identical results under several thread orders and worker
// counts; running statistics kept on the device across steps. Built twice, as the conv tests:
// test_batch_norm_kernels on the CPU executor, test_batch_norm_kernels_gpu on a GPU (skipped,
// saying why, without one).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "conv_layers.h"  // reference/
#include "device/device.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_check.h"
#include "model/layers.h"
#include "kernel_family_test.h"
#include "sanitizer_tier.h"

namespace {

namespace bn = vae::kernels::batch_norm;
namespace check = vae::kernels::batch_norm::check;
using bn::Activation;
using bn::Version;
using check::Pass;
using vae::device::Kind;
using vae::device::Stream;

#if defined(VAE_TEST_ON_CUDA)
#define VAE_BN_PREFIX BatchNormOnCuda
#else
#define VAE_BN_PREFIX BatchNorm
#endif
using vae::testing::expect_all_pass;
using vae::testing::same_bits;
constexpr Kind kDevice = vae::testing::kKernelDevice;

// conv-celeba64's first batch norm is 32 channels of 32x32: n = 1024 per image. The GPU takes
// the training batch, the Release build 3 images, the sanitizer build the least training allows.
int preset_batch() {
  if (kDevice == Kind::cuda) return 64;
  return vae::testing::kSanitizerBuild ? 2 : 3;
}

Stream stream(std::uint64_t thread_order_seed = 0x5eed, unsigned workers = 0) {
  return vae::testing::kernel_stream(thread_order_seed, workers);
}

const Pass kPasses[] = {Pass::train_forward, Pass::eval_forward, Pass::backward};

std::string describe(Version v, Pass pass, const check::Case& c) {
  return std::string(bn::version_name(v)) + " " + check::pass_name(pass) + " " + c.label() + " (" + c.name + ")";
}

std::vector<check::OutputResult> expect_matches_reference(const Stream& s, Version v, const check::Prepared& p,
                                                          const std::string& what) {
  std::vector<check::OutputResult> results = check::run(s, v, p);
  EXPECT_EQ(results.size(), p.outputs.size()) << what;
  expect_all_pass(results, what);
  return results;
}

using BatchNormVersion = vae::testing::KernelVersionTest<Version>;

TEST_P(BatchNormVersion, PresetLayersMatchDoublePrecision) {
  const Stream s = stream();
  const std::vector<check::Case> cases = check::preset_layers(preset_batch());
  ASSERT_GE(cases.size(), 4u) << "conv-celeba64 has lost its batch-norm layers";
  for (const check::Case& c : cases)
    for (Pass pass : kPasses) expect_matches_reference(s, GetParam(), check::prepare(pass, c), describe(GetParam(), pass, c));
}

TEST_P(BatchNormVersion, OddSizesEveryActivationMatchDoublePrecision) {
  const Stream s = stream();
  for (check::Case c : check::odd_cases())
    for (Activation a : {Activation::identity, Activation::relu, Activation::tanh}) {
      c.activation = a;
      for (Pass pass : kPasses)
        expect_matches_reference(s, GetParam(), check::prepare(pass, c), describe(GetParam(), pass, c));
    }
}

TEST_P(BatchNormVersion, BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  const std::vector<vae::testing::ThreadOrder> runs = vae::testing::thread_orders();
  const std::vector<check::Case> all = check::odd_cases();
  for (const check::Case& c : {all[3], all[4], all[5]})  // 16 strides and a remainder; 70 channels; v2's 4 slices
    for (Pass pass : kPasses) {
      const check::Prepared p = check::prepare(pass, c);
      const std::string what = describe(GetParam(), pass, c);
      const auto first = expect_matches_reference(stream(runs[0].seed, runs[0].workers), GetParam(), p, what);
      for (std::size_t r = 1; r < runs.size(); ++r)
        vae::testing::expect_same_bits(first, check::run(stream(runs[r].seed, runs[r].workers), GetParam(), p), what,
                                       runs[r]);
    }
}

// Training steps update the running statistics where they live, on the device: three forwards
// on three batches leave what three of nn.BatchNorm2d's updates leave, and count 3. n = 6000:
// v2 merges two slices.
TEST_P(BatchNormVersion, RunningStatisticsAccumulateOnTheDeviceOverSteps) {
  const Stream s = stream();
  const int batch = 4, channels = 3, hw = 1500, n = batch * hw;
  ASSERT_EQ(GetParam() == Version::split_channel ? 2 : 1, bn::split(GetParam(), channels, n).slices);
  auto workspace = vae::device::to_device(s, std::vector<float>(bn::workspace_floats(GetParam(), batch, channels, hw)));
  const std::size_t size = std::size_t(batch) * channels * hw;
  std::vector<float> ones(channels, 1.0f), zeros(channels, 0.0f);
  auto running_mean = vae::device::to_device(s, zeros);
  auto running_var = vae::device::to_device(s, ones);  // nn.BatchNorm2d's initial state
  auto count = vae::device::to_device(s, std::vector<std::int64_t>{0});
  auto gamma = vae::device::to_device(s, ones), beta = vae::device::to_device(s, zeros);
  auto y = vae::device::to_device(s, std::vector<float>(size)), mean = vae::device::to_device(s, zeros),
       rstd = vae::device::to_device(s, zeros);
  std::vector<double> want_mean(channels, 0.0), want_var(channels, 1.0);
  for (int step = 0; step < 3; ++step) {
    std::vector<float> x(size);
    for (std::size_t i = 0; i < size; ++i) x[i] = float((i * 7919 + step * 104729) % 1000) / 250.0f - 2.0f + step;
    const auto x_device = vae::device::to_device(s, x);
    bn::TrainForwardArgs a;
    a.batch = batch, a.channels = channels, a.hw = hw;
    a.x = x_device.data(), a.gamma = gamma.data(), a.beta = beta.data();
    a.y = y.data(), a.mean = mean.data(), a.rstd = rstd.data();
    a.running_mean = running_mean.data(), a.running_var = running_var.data(), a.num_batches_tracked = count.data();
    a.workspace = workspace.data(), a.workspace_size = workspace.size();
    bn::train_forward(s, GetParam(), a);
    s.synchronize();
    const std::vector<double> xd(x.begin(), x.end());
    std::vector<double> yd(size);
    vae::ref::BatchNormStats stats;
    vae::ref::batch_norm_train_forward(batch, channels, hw, xd.data(), nullptr, nullptr, vae::kBatchNormEps, yd.data(),
                                       stats);
    vae::ref::batch_norm_update_running(stats, n, vae::kBatchNormMomentum, want_mean.data(), want_var.data());
  }
  EXPECT_EQ(vae::device::to_host(s, count)[0], 3);
  const std::vector<float> got_mean = vae::device::to_host(s, running_mean), got_var = vae::device::to_host(s, running_var);
  for (int c = 0; c < channels; ++c) {
    // Three updates of a float state: a few u of each term (|values| <= 4), the sums over n.
    EXPECT_NEAR(got_mean[c], want_mean[c], 1e-5) << "channel " << c;
    EXPECT_NEAR(got_var[c], want_var[c], 1e-5) << "channel " << c;
  }
}

std::vector<Version> every_version() {
  std::vector<Version> v;
  for (int i = bn::kFirstVersion; i <= bn::kLastVersion; ++i) v.push_back(bn::version_from_int(i));
  return v;
}

INSTANTIATE_TEST_SUITE_P(VAE_BN_PREFIX, BatchNormVersion, ::testing::ValuesIn(every_version()),
                         [](const ::testing::TestParamInfo<Version>& info) {
                           return "v" + std::to_string(int(info.param));
                         });

// --- The judge and the arguments (device-independent: CPU binary only) ----------------------
#if !defined(VAE_TEST_ON_CUDA)

// The judge fails a result one term off: dgamma missing one element's g·xhat, and a running
// variance updated with the biased variance (what nn.BatchNorm2d does not do).
TEST(BatchNormJudge, CatchesAMissingTermAndABiasedRunningVariance) {
  const Stream s = stream();
  const check::Case c = check::odd_cases()[2];  // n = 111
  const check::Prepared back = check::prepare(Pass::backward, c);
  std::vector<check::OutputResult> r = check::run(s, Version::block_per_channel, back);
  ASSERT_EQ(back.outputs[1], "dgamma");
  ASSERT_TRUE(r[1].comparison.pass);
  std::vector<float> off = r[1].got;
  off[0] += float(back.expected[1].scale[0] / back.expected[1].accumulation_length);
  EXPECT_FALSE(vae::kernels::gemm::reference::compare(off, back.expected[1], vae::tol::gemm("fp32")).pass)
      << "dgamma one average term off passed";

  const check::Prepared train = check::prepare(Pass::train_forward, c);
  r = check::run(s, Version::block_per_channel, train);
  ASSERT_EQ(train.outputs[4], "running_var");
  ASSERT_TRUE(r[4].comparison.pass);
  // running_var with var instead of var·n/(n-1): m·var/(n-1) lower.
  std::vector<float> biased = r[4].got;
  for (std::size_t ch = 0; ch < biased.size(); ++ch) {
    const double want = train.expected[4].want[ch], old = train.running_var[ch];
    const double unbiased_term = (want - (1 - vae::kBatchNormMomentum) * old);
    biased[ch] = float(want - unbiased_term / c.batch / c.hw);
  }
  EXPECT_FALSE(vae::kernels::gemm::reference::compare(biased, train.expected[4], vae::tol::gemm("fp32")).pass)
      << "a biased running variance passed";
  ASSERT_EQ(train.outputs[5], "num_batches_tracked");
  EXPECT_FALSE(vae::kernels::gemm::reference::compare({float(train.num_batches_tracked)}, train.expected[5],
                                                      vae::tol::gemm("fp32"))
                   .pass)
      << "a count that did not move passed";
}

// The preceding conv's bias gradient, summed in the dx pass (dbias): asking for it changes
// none of dx, dgamma, dbeta by a bit (either version), and its judge fails the plausible wrong
// sums: Σ g (the gradient at batch norm's output, i.e. dbeta) and, where one element is above
// the rounding bound (n = 111), a channel's dx missing one element.
void expect_fused_bias_gradient(const Stream& s, const check::Case& c, Version v) {
  SCOPED_TRACE(std::string(bn::version_name(v)) + " " + c.label());
  const check::Prepared p = check::prepare(Pass::backward, c);
  ASSERT_EQ(p.outputs.size(), 4u);
  ASSERT_EQ(p.outputs[3], "dbias");
  const std::vector<check::OutputResult> fused = check::run(s, v, p);
  expect_all_pass(fused, "backward with dbias");
  // The same call without dbias.
  const std::size_t size = std::size_t(c.batch) * c.channels * c.hw, C = std::size_t(c.channels);
  const auto to = [&](const std::vector<float>& v) { return vae::device::to_device(s, v); };
  const auto dy = to(p.dy), y = to(p.y), x = to(p.x), gamma = to(p.gamma), mean = to(p.mean), rstd = to(p.rstd);
  vae::device::Array<float> dx(s.kind(), size), dgamma(s.kind(), C), dbeta(s.kind(), C);
  bn::BackwardArgs a;
  a.batch = c.batch, a.channels = c.channels, a.hw = c.hw;
  a.dy = dy.data(), a.y = y.data(), a.activation = c.activation;
  a.x = x.data(), a.gamma = gamma.data(), a.mean = mean.data(), a.rstd = rstd.data();
  a.dx = dx.data(), a.dgamma = dgamma.data(), a.dbeta = dbeta.data();
  auto workspace = vae::device::to_device(s, std::vector<float>(bn::workspace_floats(v, c.batch, c.channels, c.hw)));
  a.workspace = workspace.data(), a.workspace_size = workspace.size();
  bn::backward(s, v, a);
  s.synchronize();
  EXPECT_TRUE(same_bits(vae::device::to_host(s, dx), fused[0].got)) << "dx";
  EXPECT_TRUE(same_bits(vae::device::to_host(s, dgamma), fused[1].got)) << "dgamma";
  EXPECT_TRUE(same_bits(vae::device::to_host(s, dbeta), fused[2].got)) << "dbeta";
  const auto judge = [&](const std::vector<float>& got) {
    return vae::kernels::gemm::reference::compare(got, p.expected[3], vae::tol::gemm("fp32")).pass;
  };
  EXPECT_FALSE(judge(fused[2].got)) << "dbias = Σ g (dbeta) passed";
  if (c.batch * c.hw > 1000) return;  // one element of 15000 is within the sum's rounding bound
  std::vector<float> short_sum = fused[3].got;
  short_sum[0] -= fused[0].got[0];  // channel 0 without its first element (b = 0, hw = 0)
  EXPECT_FALSE(judge(short_sum)) << "dbias missing one element's dx passed";
}

TEST(BatchNormJudge, TheFusedConvBiasGradientIsSumOfDxAndChangesNothingElse) {
  const Stream s = stream();
  // n = 111 (one block), and n = 15000 (v2's four slices and its third kernel for dbias).
  for (const check::Case& c : {check::odd_cases()[2], check::odd_cases()[5]})
    for (const Version v : {Version::block_per_channel, Version::split_channel}) expect_fused_bias_gradient(s, c, v);
}

TEST(BatchNormArguments, AreCheckedBeforeLaunching) {
  const Stream s = stream();
  const auto expect_error = [&](const std::function<void()>& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
    } catch (const vae::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::vector<float> buffer(64), other(64);
  std::int64_t count = 0;
  bn::TrainForwardArgs t;
  t.batch = 2, t.channels = 3, t.hw = 4;
  t.x = buffer.data(), t.y = other.data(), t.mean = other.data(), t.rstd = other.data();
  bn::TrainForwardArgs bad = t;
  bad.batch = 1, bad.hw = 1;
  expect_error([&] { bn::validate(Version::block_per_channel, bad); }, "Expected more than 1 value per channel");
  bad = t;
  bad.channels = 0;
  expect_error([&] { bn::validate(Version::block_per_channel, bad); }, "must be >= 1");
  bad = t;
  bad.y = buffer.data();
  expect_error([&] { bn::validate(Version::block_per_channel, bad); }, "y may not be x");
  bad = t;
  bad.running_mean = other.data();
  expect_error([&] { bn::validate(Version::block_per_channel, bad); }, "or none");
  bad = t;
  bad.rstd = nullptr;
  expect_error([&] { bn::validate(Version::block_per_channel, bad); }, "rstd is null");
  bad = t;
  bad.momentum = 1.5;
  expect_error([&] { bn::validate(Version::block_per_channel, bad); }, "momentum must be in [0, 1]");
  bad = t;
  bad.running_mean = bad.running_var = other.data(), bad.num_batches_tracked = &count;
  expect_error([&] { bn::train_forward(s, bn::Version(7), bad); }, "no version 7");
  bn::EvalForwardArgs e;
  e.batch = 1, e.channels = 3, e.hw = 1;  // one value per channel is fine in evaluation
  e.x = buffer.data(), e.y = other.data(), e.running_mean = buffer.data();
  expect_error([&] { bn::validate(Version::block_per_channel, e); }, "running_var is null");
  e.running_var = buffer.data();
  bn::validate(Version::block_per_channel, e);
  bn::BackwardArgs b;
  b.batch = 2, b.channels = 3, b.hw = 4;
  b.dy = b.x = b.mean = b.rstd = buffer.data();
  b.dx = b.dgamma = b.dbeta = other.data();
  b.activation = Activation::tanh;
  expect_error([&] { bn::validate(Version::block_per_channel, b); }, "y (the forward's output) is null");
  b.activation = Activation::identity;
  b.dbeta = nullptr;
  expect_error([&] { bn::validate(Version::block_per_channel, b); }, "dbeta is null");
  b.dbeta = other.data();
  b.dbias = other.data();
  expect_error([&] { bn::validate(Version::block_per_channel, b); }, "dbias may not be another output");
  b.dbias = nullptr;
  b.batch = 3, b.hw = 5000;  // v2's four slices need 3·C·4 floats
  expect_error([&] { bn::validate(Version::split_channel, b); }, "v2 split-channel needs a workspace of 36 floats");
}

TEST(BatchNormCase, TheCommandLineFormRoundTripsAndBadTextIsNamed) {
  const check::Case c = check::parse_case("16:64:256:relu");
  EXPECT_EQ(c.batch, 16);
  EXPECT_EQ(c.channels, 64);
  EXPECT_EQ(c.hw, 256);
  EXPECT_EQ(c.activation, Activation::relu);
  EXPECT_EQ(c.label(), "16:64:256:relu");
  EXPECT_EQ(check::parse_case("2:3:4").activation, Activation::identity);
  for (const check::Case& odd : check::odd_cases()) EXPECT_EQ(check::parse_case(odd.label()).label(), odd.label());
  const auto message = [](const std::string& text) {
    try {
      check::parse_case(text);
    } catch (const vae::Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message("16:64").find("expected B:C:HW"), std::string::npos);
  EXPECT_NE(message("16:x:4").find("the channels 'x'"), std::string::npos);
  EXPECT_NE(message("0:2:4").find("the batch '0'"), std::string::npos);
  EXPECT_NE(message("2:2:4:gelu").find("the activation 'gelu'"), std::string::npos);
}

#endif

}  // namespace
