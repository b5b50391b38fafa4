// The conv family (impl/kernels/conv/conv.cu), every version, against the double-precision
// reference layers: every conv and transposed-conv layer of the presets and odd hold-out
// geometries, forward and backward, bitwise-identical results under several thread orders
// and worker counts, the uint8 input path. Built twice: test_conv_kernels runs on the CPU
// executor; test_conv_kernels_gpu (VAE_TEST_ON_CUDA) runs the same checks on a GPU, and
// skips with the reason where there is none.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "common/error.h"
#include "device/device.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/conv_check.h"
#include "kernels/conv/conv_plan.h"
#include "kernels/likelihood.h"
#include "common/counter_rng.h"
#include "model/config.h"
#include "model/layers.h"
#include "kernel_family_test.h"
#include "sanitizer_tier.h"
#include "tolerances.h"

namespace {

namespace conv = vae::kernels::conv;
namespace check = vae::kernels::conv::check;
using conv::Activation;
using conv::Pass;
using conv::Version;
using vae::ConvGeometry;
using vae::Likelihood;
using vae::device::Kind;
using vae::device::Stream;

#if defined(VAE_TEST_ON_CUDA)
#define VAE_CONV_PREFIX ConvOnCuda
#else
#define VAE_CONV_PREFIX Conv
#endif
using vae::testing::expect_all_pass;
using vae::testing::same_bits;
constexpr Kind kDevice = vae::testing::kKernelDevice;

// The presets' layers at a batch that crosses no tile edge by itself (the odd cases do that);
// the GPU and the Release build take the training batch's neighbour, the sanitizer build the
// smallest that still has two images.
int preset_batch() {
  if (kDevice == Kind::cuda) return 128;
  return vae::testing::kSanitizerBuild ? 2 : 5;
}

Stream stream(std::uint64_t thread_order_seed = 0x5eed, unsigned workers = 0) {
  return vae::testing::kernel_stream(thread_order_seed, workers);
}

std::string describe(Version v, Pass pass, const check::Case& c) {
  return std::string(conv::version_name(v)) + (pass == Pass::forward ? " forward " : " backward ") + c.label() +
         " (" + c.name + (c.byte_input ? ", uint8 input" : "") + ")";
}

std::vector<check::OutputResult> expect_matches_reference(const Stream& s, Version v, const check::Prepared& p,
                                                          const std::string& what) {
  std::vector<check::OutputResult> results = check::run(s, v, p);
  expect_all_pass(results, what);
  return results;
}

using ConvVersion = vae::testing::KernelVersionTest<Version>;

// The sanitizer tier takes conv-mnist's layers (every direction, transposed, output padding,
// u8 input); conv-celeba64's, the same code on larger images, took most of this test's minutes
// under ASan and run in the Release build.
TEST_P(ConvVersion, PresetLayersMatchDoublePrecision) {
  const Stream s = stream();
  const std::vector<check::Case> all = check::preset_layers(preset_batch());
  ASSERT_GE(all.size(), 6u) << "the conv presets have lost their conv layers";
  std::vector<check::Case> cases;
  for (const check::Case& c : all)
    if (!vae::testing::kSanitizerBuild || c.name.rfind("conv-mnist ", 0) == 0) cases.push_back(c);
  ASSERT_FALSE(cases.empty());
  if (cases.size() < all.size())
    std::cout << "[sanitizer tier] " << all.size() - cases.size()
              << " preset layers other than conv-mnist's run in the Release build\n";
  for (const check::Case& c : cases)
    for (Pass pass : {Pass::forward, Pass::backward})
      expect_matches_reference(s, GetParam(), check::prepare(pass, c), describe(GetParam(), pass, c));
}

TEST_P(ConvVersion, OddGeometriesEveryActivationMatchDoublePrecision) {
  const Stream s = stream();
  for (check::Case c : check::odd_cases())
    for (Activation a : {Activation::identity, Activation::relu, Activation::tanh}) {
      c.activation = a;
      for (Pass pass : {Pass::forward, Pass::backward})
        expect_matches_reference(s, GetParam(), check::prepare(pass, c), describe(GetParam(), pass, c));
    }
}

TEST_P(ConvVersion, BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  const std::vector<vae::testing::ThreadOrder> runs = vae::testing::thread_orders();
  // The split weight gradient, a transposed conv with output padding, > 64 output channels.
  const std::vector<check::Case> all = check::odd_cases();
  for (const check::Case& c : {all[7], all[4], all[5]})
    for (Pass pass : {Pass::forward, Pass::backward}) {
      const check::Prepared p = check::prepare(pass, c);
      const std::string what = describe(GetParam(), pass, c);
      const auto first = expect_matches_reference(stream(runs[0].seed, runs[0].workers), GetParam(), p, what);
      for (std::size_t r = 1; r < runs.size(); ++r)
        vae::testing::expect_same_bits(first, check::run(stream(runs[r].seed, runs[r].workers), GetParam(), p), what,
                                       runs[r]);
    }
}

// Bytes are read as byte / 255: the same bits as floats holding float(byte) / 255.
TEST_P(ConvVersion, ByteInputEqualsItsFloatValues) {
  const Stream s = stream();
  check::Case c = check::odd_cases()[0];
  c.byte_input = true;
  for (Pass pass : {Pass::forward, Pass::backward}) {
    const check::Prepared bytes = check::prepare(pass, c);
    check::Prepared floats = bytes;
    for (std::uint8_t b : bytes.x_bytes) floats.x.push_back(float(b) / 255.0f);
    floats.x_bytes.clear();
    const std::string what = describe(GetParam(), pass, c);
    const auto from_bytes = expect_matches_reference(s, GetParam(), bytes, what);
    const auto from_floats = check::run(s, GetParam(), floats);
    for (std::size_t o = 0; o < from_bytes.size(); ++o)
      EXPECT_TRUE(same_bits(from_bytes[o].got, from_floats[o].got)) << what << ", output " << from_bytes[o].output;
  }
}

// --- Batch norm in evaluation in the epilogue ------------------------------------------------
// The conv with the running statistics' normalisation and the activation in its epilogue equals
// the conv (identity) followed by batch_norm::eval_forward bit for bit (the same formula on the
// same float sum), on every odd geometry (tile edges; a split forward among them) and the
// presets' batch-norm layers, each activation.
TEST_P(ConvVersion, EvalBatchNormInTheEpilogueEqualsTheSeparateKernel) {
  namespace bn = vae::kernels::batch_norm;
  const Stream s = stream();
  std::vector<check::Case> cases = check::odd_cases();
  if (!vae::testing::kSanitizerBuild)  // the sanitizer tier: the odd geometries (every tile edge) only
    for (const check::Case& c : check::preset_layers(2)) cases.push_back(c);
  bool some_split = false;
  int n = 0;
  for (check::Case c : cases) {
    const Activation after = std::array{Activation::identity, Activation::relu, Activation::tanh}[n++ % 3];
    c.activation = Activation::identity;
    const check::Prepared p = check::prepare(Pass::forward, c);
    const ConvGeometry& g = c.geometry;
    const int channels = g.out_channels, hw = g.out_h() * g.out_w();
    const std::size_t out = std::size_t(c.batch) * std::size_t(g.out_size());
    // Running statistics of the output's scale: mean in [-0.5, 0.5], var in [0.2, 2.2].
    std::vector<float> rm(channels), rv(channels), gamma(channels), beta(channels);
    for (int ch = 0; ch < channels; ++ch) {
      rm[ch] = float(vae::counter_uniform(7, 1, ch) - 0.5), rv[ch] = float(0.2 + 2 * vae::counter_uniform(7, 2, ch));
      gamma[ch] = float(0.5 + vae::counter_uniform(7, 3, ch)), beta[ch] = float(vae::counter_uniform(7, 4, ch) - 0.5);
    }
    const auto to = [&](const std::vector<float>& v) { return vae::device::to_device(s, v); };
    const auto x = to(p.x), w = to(p.weight), b = to(p.bias), d_rm = to(rm), d_rv = to(rv), d_gamma = to(gamma),
               d_beta = to(beta);
    const auto x_bytes = vae::device::to_device(s, p.x_bytes);
    const std::size_t ws = conv::workspace_floats(GetParam(), Pass::forward, g, c.batch);
    some_split = some_split || ws > 0;
    auto workspace = vae::device::to_device(s, std::vector<float>(ws));
    vae::device::Array<float> pre(s.kind(), out), separate(s.kind(), out), fused(s.kind(), out);
    conv::ForwardArgs a;
    a.geometry = g, a.batch = c.batch, a.weight = w.data(), a.bias = b.data();
    a.x = p.x.empty() ? nullptr : x.data();
    a.x_bytes = p.x_bytes.empty() ? nullptr : x_bytes.data();
    a.workspace = workspace.data(), a.workspace_size = ws;
    a.y = pre.data();
    conv::forward(s, GetParam(), a);
    bn::EvalForwardArgs e;
    e.batch = c.batch, e.channels = channels, e.hw = hw;
    e.x = pre.data(), e.gamma = d_gamma.data(), e.beta = d_beta.data();
    e.running_mean = d_rm.data(), e.running_var = d_rv.data(), e.eps = vae::kBatchNormEps, e.activation = after;
    e.y = separate.data();
    bn::eval_forward(s, bn::Version::block_per_channel, e);
    conv::EvalBatchNormEpilogue epilogue;
    epilogue.gamma = d_gamma.data(), epilogue.beta = d_beta.data();
    epilogue.running_mean = d_rm.data(), epilogue.running_var = d_rv.data();
    epilogue.eps = vae::kBatchNormEps, epilogue.activation = after;
    a.eval_batch_norm = &epilogue;
    a.y = fused.data();
    conv::forward(s, GetParam(), a);
    s.synchronize();
    EXPECT_TRUE(same_bits(vae::device::to_host(s, fused), vae::device::to_host(s, separate)))
        << describe(GetParam(), Pass::forward, c) << " + batch norm (evaluation), " << vae::kernels::gemm::activation_name(after);
  }
  if (GetParam() == Version::register_blocked) EXPECT_TRUE(some_split) << "no case splits its forward";
}

// --- The likelihood epilogue (v3, v4): the output layer's NLL, dL/dO and block sums -------------
// Against the kernels it replaces: the conv writing the logits, then likelihood v1 over them.
// dL/dO is bit for bit the same (the same sum and the same operations on it); the recon comes
// from likelihood v2 over the block sums, another summation order, so it is judged with
// tolerances.h's likelihood-recon bound (each path within it of the exact value: twice it
// between them). Shapes: a transposed conv to 14x14 (several blocks an image), a 5x5 output
// (several images a block), 70 channels (two column blocks); K = 2, bytes and float targets;
// evaluation (no dL/dO) gives the same losses and writes nothing.
struct OutputLayer {
  ConvGeometry geometry;
  Likelihood likelihood;
  bool byte_targets;
  const char* what;
};

struct LikelihoodRun {
  std::vector<float> gradient, recon;
};

LikelihoodRun run_output_layer(const Stream& s, const OutputLayer& o, Version v, bool epilogue, bool write_gradient) {
  namespace lik = vae::kernels::likelihood;
  const int B = 3, K = 2, KB = K * B;
  const ConvGeometry& g = o.geometry;
  const std::size_t in = std::size_t(KB) * g.in_size(), out = std::size_t(KB) * g.out_size(),
                    pixels = std::size_t(g.out_size());
  const auto uniform = [](std::size_t n, std::uint64_t stream, double lo, double hi) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = float(lo + (hi - lo) * vae::counter_uniform(17, stream, i));
    return v;
  };
  const auto x = vae::device::to_device(s, uniform(in, 1, -1.0, 1.0));
  const auto weight = vae::device::to_device(s, uniform(std::size_t(g.weight_size()), 2, -0.5, 0.5));
  const auto bias = vae::device::to_device(s, uniform(std::size_t(g.out_channels), 3, -0.5, 0.5));
  std::vector<float> targets = uniform(std::size_t(B) * pixels, 4, 0.0, 1.0);
  std::vector<std::uint8_t> target_bytes(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) target_bytes[i] = std::uint8_t(targets[i] * 255.0f);
  const auto x_float = vae::device::to_device(s, targets);
  const auto x_bytes = vae::device::to_device(s, target_bytes);
  const auto kl = vae::device::to_device(s, std::vector<float>(std::size_t(B), 0.5f));
  vae::device::Array<float> y = vae::device::to_device(s, std::vector<float>(out, NAN));
  vae::device::Array<float> recon(kDevice, std::size_t(B));
  vae::device::Array<float> block_nll(kDevice, conv::likelihood_floats(g, KB));
  std::vector<float> none;
  const std::size_t workspace_size = conv::workspace_floats(v, Pass::forward, g, KB);
  vae::device::Array<float> workspace(kDevice, workspace_size);
  conv::ForwardArgs f;
  f.geometry = g, f.batch = KB;
  f.x = x.data(), f.weight = weight.data(), f.bias = bias.data();
  f.y = y.data();
  f.workspace = workspace.data(), f.workspace_size = workspace_size;
  conv::LikelihoodEpilogue e;
  e.likelihood = o.likelihood, e.batch = B, e.samples = K;
  e.x = o.byte_targets ? nullptr : x_float.data();
  e.x_bytes = o.byte_targets ? x_bytes.data() : nullptr;
  e.write_gradient = write_gradient;
  e.block_nll = block_nll.data();
  if (epilogue) f.likelihood = &e;
  conv::forward(s, v, f);
  lik::Args a;
  a.likelihood = o.likelihood, a.batch = B, a.samples = K, a.pixels = int(pixels);
  a.x = e.x, a.x_bytes = e.x_bytes;
  a.kl = kl.data(), a.recon = recon.data();
  if (epilogue) {
    a.row_nll = block_nll.data();
    a.conv_hw = int(g.out_h() * g.out_w()), a.conv_channels = g.out_channels;
    lik::run(s, lik::Version::tile_sums, a);
  } else {
    a.logits = y.data();
    a.write_gradient = write_gradient;
    lik::run(s, lik::Version::row_blocks, a);
  }
  s.synchronize();
  return {vae::device::to_host(s, y), vae::device::to_host(s, recon)};
}

TEST_P(ConvVersion, TheLikelihoodEpilogueMatchesTheKernelsItReplaces) {
  if (!conv::has_likelihood_epilogue(GetParam())) GTEST_SKIP() << conv::version_name(GetParam()) << " has no likelihood epilogue";
  const Stream s = stream();
  const std::vector<OutputLayer> layers = {
      {ConvGeometry::conv_transpose2d(2, 1, 7, 7, 3, 2, 1, 1), Likelihood::Bernoulli, true, "transposed to 1x14x14"},
      {ConvGeometry::conv2d(3, 2, 5, 5, 3, 1, 1), Likelihood::Gaussian, false, "2x5x5: several images a block"},
      {ConvGeometry::conv2d(3, 70, 3, 3, 1, 1, 0), Likelihood::Bernoulli, false, "70x3x3: two column blocks"}};
  namespace plan = vae::kernels::conv::plan;
  for (const OutputLayer& o : layers) {
    SCOPED_TRACE(o.what);
    // The epilogue never splits; so that the logits are the same sums, neither does the
    // separate conv at these depths (under two depth tiles).
    const plan::Dims dims = plan::dims(plan::direction_of(o.geometry.transposed, plan::Output::y),
                                       plan::core_of(o.geometry, 6));
    ASSERT_EQ(plan::split(GetParam(), dims).slices, 1) << "depth " << dims.depth;
    const LikelihoodRun fused = run_output_layer(s, o, GetParam(), true, true);
    const LikelihoodRun separate = run_output_layer(s, o, GetParam(), false, true);
    EXPECT_TRUE(same_bits(fused.gradient, separate.gradient)) << "dL/dO differs from the separate kernels'";
    const double n = 2.0 * double(o.geometry.out_size());  // K·D terms
    for (std::size_t b = 0; b < fused.recon.size(); ++b) {
      // Every NLL term is positive (Gaussian: >= log(2π)/2), so K·recon is the terms' |sum|.
      const double bound = 2.0 * vae::tol::kLikelihoodRecon.bound(n) * 2.0 * std::fabs(separate.recon[b]);
      EXPECT_NEAR(fused.recon[b], separate.recon[b], bound) << "image " << b;
    }
    // Evaluation: no dL/dO written, the same losses.
    const LikelihoodRun eval = run_output_layer(s, o, GetParam(), true, false);
    EXPECT_TRUE(same_bits(eval.recon, fused.recon));
    for (float v : eval.gradient) ASSERT_TRUE(std::isnan(v)) << "the evaluation wrote y";
  }
}

std::vector<Version> every_version() {
  std::vector<Version> v;
  for (int i = conv::kFirstVersion; i <= conv::kLastVersion; ++i) v.push_back(conv::version_from_int(i));
  return v;
}

INSTANTIATE_TEST_SUITE_P(VAE_CONV_PREFIX, ConvVersion, ::testing::ValuesIn(every_version()),
                         [](const ::testing::TestParamInfo<Version>& info) {
                           return "v" + std::to_string(int(info.param));
                         });

// --- The plan, the judge and the arguments (device-independent: CPU binary only) -----------
#if !defined(VAE_TEST_ON_CUDA)

// The weight gradient's depth is B·Hb·Wb: v3 splits it where the output has few blocks; a
// forward with blocks enough is not split; v1 and v2 never split.
TEST(ConvPlan, TheRegisterBlockedVersionSplitsTheWeightGradientOnly) {
  namespace plan = vae::kernels::conv::plan;
  const ConvGeometry g = ConvGeometry::conv2d(32, 64, 14, 14, 4, 2, 1);  // conv-mnist's second layer
  const plan::Core c = plan::core_of(g, 128);
  const plan::Dims wgrad = plan::dims(conv::Direction::weight_gradient, c);
  EXPECT_EQ(wgrad.rows, 64);
  EXPECT_EQ(wgrad.cols, 32 * 16);
  EXPECT_EQ(wgrad.depth, 128 * 7 * 7);
  const plan::Split split = plan::split(Version::register_blocked, wgrad);
  EXPECT_GT(split.slices, 1);
  EXPECT_EQ(split.slice_depth % plan::kBlockDepth, 0);
  EXPECT_GE(split.slices * split.slice_depth, wgrad.depth);
  EXPECT_LT((split.slices - 1) * split.slice_depth, wgrad.depth) << "an empty last slice";
  // conv-mnist's first layer: 32 x 128·14·14 outputs are 392 blocks, enough for a GPU.
  const plan::Core first = plan::core_of(ConvGeometry::conv2d(1, 32, 28, 28, 4, 2, 1), 128);
  EXPECT_EQ(plan::split(Version::register_blocked, plan::dims(conv::Direction::forward, first)).slices, 1);
  EXPECT_EQ(plan::split(Version::shared_tiles, wgrad).slices, 1);
  EXPECT_EQ(conv::workspace_floats(Version::direct, Pass::backward, g, 128), 0u);
  EXPECT_EQ(conv::workspace_floats(Version::register_blocked, Pass::backward, g, 128),
            std::size_t(split.slices) * wgrad.rows * wgrad.cols);
}

// The table of conv.h: a transposed conv's forward is the core's data gradient, with the core's
// a being the layer's output.
TEST(ConvPlan, ATransposedConvIsItsCoreConvsAdjoint) {
  namespace plan = vae::kernels::conv::plan;
  const ConvGeometry t = ConvGeometry::conv_transpose2d(128, 64, 3, 3, 4, 2, 1, 1);  // 3x3 -> 7x7
  const plan::Core c = plan::core_of(t, 2);
  EXPECT_EQ(c.ca, 64);
  EXPECT_EQ(c.ha, 7);
  EXPECT_EQ(c.cb, 128);
  EXPECT_EQ(c.hb, 3);
  EXPECT_EQ((c.ha + 2 * c.p - c.k) / c.s + 1, c.hb) << "the core conv must map the output back to the input size";
  EXPECT_EQ(plan::direction_of(true, plan::Output::y), conv::Direction::data_gradient);
  EXPECT_EQ(plan::direction_of(true, plan::Output::dx), conv::Direction::forward);
  EXPECT_EQ(plan::direction_of(false, plan::Output::y), conv::Direction::forward);
}

// The judge fails a result one term off: a weight-gradient element missing one product.
TEST(ConvJudge, CatchesAMissingTerm) {
  const Stream s = stream();
  const check::Case c = check::odd_cases()[0];
  const check::Prepared p = check::prepare(Pass::backward, c);
  std::vector<check::OutputResult> r = check::run(s, Version::direct, p);
  ASSERT_TRUE(r[1].comparison.pass);
  // One product of dW[0] is dy·x for a tap inside the image: of the order 1/n of its scale.
  const double term = p.expected[1].scale[0] / p.expected[1].accumulation_length;
  std::vector<float> off = r[1].got;
  off[0] += float(term);
  const auto judged = vae::kernels::gemm::reference::compare(off, p.expected[1], vae::tol::gemm("fp32"));
  EXPECT_FALSE(judged.pass) << "a term of " << term << " in dW[0] passed (" << judged.percent_of_tolerance << "%)";
}

TEST(ConvArguments, AreCheckedBeforeLaunching) {
  const Stream s = stream();
  const auto expect_error = [&](const std::function<void()>& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
    } catch (const vae::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::vector<float> buffer(4096);
  conv::ForwardArgs f;
  f.geometry = ConvGeometry::conv2d(3, 4, 5, 5, 3, 1, 1);
  f.batch = 2;
  f.x = buffer.data(), f.weight = buffer.data(), f.y = buffer.data();
  conv::ForwardArgs bad = f;
  bad.geometry.stride = 0;
  expect_error([&] { conv::validate(Version::direct, bad); }, "stride must be positive");
  bad = f;
  bad.batch = 0;
  expect_error([&] { conv::validate(Version::direct, bad); }, "batch must be >= 1");
  bad = f;
  bad.weight = nullptr;
  expect_error([&] { conv::validate(Version::direct, bad); }, "weight is null");
  bad = f;
  bad.x_bytes = reinterpret_cast<const std::uint8_t*>(buffer.data());
  expect_error([&] { conv::validate(Version::direct, bad); }, "exactly one of x");
  expect_error([&] { conv::forward(s, conv::Version(7), f); }, "no version 7");
  conv::EvalBatchNormEpilogue eval;
  bad = f;
  bad.eval_batch_norm = &eval;
  expect_error([&] { conv::validate(Version::direct, bad); }, "running_mean and running_var are required");
  eval.running_mean = eval.running_var = buffer.data();
  bad.activation = Activation::relu;
  expect_error([&] { conv::validate(Version::direct, bad); }, "the layer's must be identity");
  conv::BackwardArgs b;
  b.geometry = ConvGeometry::conv2d(3, 4, 17, 13, 3, 1, 0);
  b.batch = 3;
  b.dy = b.x = b.weight = buffer.data();
  b.dw = buffer.data();
  b.activation = Activation::relu;
  expect_error([&] { conv::validate(Version::direct, b); }, "y (the forward's output) is null");
  b.y = buffer.data();
  expect_error([&] { conv::validate(Version::register_blocked, b); }, "conv::workspace_floats");
  conv::BackwardArgs no_dw = b;
  no_dw.dw = nullptr;
  expect_error([&] { conv::validate(Version::direct, no_dw); }, "dw is null");
}

TEST(ConvCase, TheCommandLineFormRoundTripsAndBadTextIsNamed) {
  const check::Case c = check::parse_case("2:3x5x9:convT7k3s2p1o1:tanh");
  EXPECT_TRUE(c.geometry.transposed);
  EXPECT_EQ(c.geometry.in_channels, 3);
  EXPECT_EQ(c.geometry.out_channels, 7);
  EXPECT_EQ(c.geometry.output_padding, 1);
  EXPECT_EQ(c.batch, 2);
  EXPECT_EQ(c.activation, Activation::tanh);
  EXPECT_EQ(c.label(), "2:3x5x9:convT7k3s2p1o1:tanh");
  for (const check::Case& odd : check::odd_cases()) EXPECT_EQ(check::parse_case(odd.label()).label(), odd.label());
  const auto message = [](const std::string& text) {
    try {
      check::parse_case(text);
    } catch (const vae::Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message("3x5x9").find("expected B:CxHxW:layer"), std::string::npos);
  EXPECT_NE(message("3x5x9:conv7k3s1p1:relu").find("the batch '3x5x9'"), std::string::npos);
  EXPECT_NE(message("0:3x5x9:conv7k3s1p1:relu").find("the batch '0'"), std::string::npos);
  EXPECT_NE(message("2:3x5x9:dense7:relu").find("one conv or convT layer"), std::string::npos);
  EXPECT_NE(message("2:3x5x9:conv7k3s1p1+bn:relu").find("without +bn"), std::string::npos);
  EXPECT_NE(message("2:3x2x2:conv7k5s1p0:relu").find("larger than the padded input"), std::string::npos);
}

#endif

}  // namespace
