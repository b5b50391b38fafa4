// The conv family (impl/kernels/conv/conv.cu), every version, against the double-precision
// reference layers: every conv and transposed-conv layer of the presets and odd hold-out
// geometries, forward and backward, bitwise-identical results under several thread orders
// and worker counts, the uint8 input path. Built twice: test_conv_kernels runs on the CPU
// executor; test_conv_kernels_gpu (VAE_TEST_ON_CUDA) runs the same checks on a GPU, and
// skips with the reason where there is none.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "device/device.h"
#include "kernels/conv/conv.h"
#include "kernels/conv/conv_check.h"
#include "kernels/conv/conv_plan.h"
#include "sanitizer_tier.h"

namespace {

namespace conv = vae::kernels::conv;
namespace check = vae::kernels::conv::check;
using conv::Activation;
using conv::Pass;
using conv::Version;
using vae::ConvGeometry;
using vae::device::Kind;
using vae::device::Stream;

#if defined(VAE_TEST_ON_CUDA)
constexpr Kind kDevice = Kind::cuda;
#define VAE_CONV_PREFIX ConvOnCuda
#else
constexpr Kind kDevice = Kind::emu;
#define VAE_CONV_PREFIX Conv
#endif

// The presets' layers at a batch that crosses no tile edge by itself (the odd cases do that);
// the GPU and the Release build take the training batch's neighbour, the sanitizer build the
// smallest that still has two images.
int preset_batch() {
  if (kDevice == Kind::cuda) return 128;
  return vae::testing::kSanitizerBuild ? 2 : 5;
}

Stream stream(std::uint64_t thread_order_seed = 0x5eed, unsigned workers = 0) {
  return Stream(kDevice, vae::emu::Options{thread_order_seed, workers});
}

std::string describe(Version v, Pass pass, const check::Case& c) {
  return std::string(conv::version_name(v)) + (pass == Pass::forward ? " forward " : " backward ") + c.label() +
         " (" + c.name + (c.byte_input ? ", uint8 input" : "") + ")";
}

std::vector<check::OutputResult> expect_matches_reference(const Stream& s, Version v, const check::Prepared& p,
                                                          const std::string& what) {
  std::vector<check::OutputResult> results = check::run(s, v, p);
  for (const check::OutputResult& r : results) {
    const auto& c = r.comparison;
    EXPECT_TRUE(c.pass) << what << ", output " << r.output << ": max abs " << c.max_abs << ", norm-wise " << c.norm_rel
                        << ", worst element-wise " << c.worst_elementwise << " (" << c.percent_of_tolerance
                        << "% of tolerance), worst element " << c.worst_index;
  }
  return results;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class ConvVersion : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    std::string why;
    if (kDevice == Kind::cuda && !vae::device::cuda_usable(&why)) GTEST_SKIP() << "no usable GPU: " << why;
  }
};

TEST_P(ConvVersion, PresetLayersMatchDoublePrecision) {
  const Stream s = stream();
  const std::vector<check::Case> cases = check::preset_layers(preset_batch());
  ASSERT_GE(cases.size(), 6u) << "the conv presets have lost their conv layers";
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
  struct Run {
    std::uint64_t seed;
    unsigned workers;
  };
  const std::vector<Run> runs = kDevice == Kind::emu ? std::vector<Run>{{1, 1}, {2, 2}, {0xfeedbeef, 2}}
                                                     : std::vector<Run>{{0, 0}, {0, 0}, {0, 0}};
  // The split weight gradient, a transposed conv with output padding, > 64 output channels.
  const std::vector<check::Case> all = check::odd_cases();
  for (const check::Case& c : {all[7], all[4], all[5]})
    for (Pass pass : {Pass::forward, Pass::backward}) {
      const check::Prepared p = check::prepare(pass, c);
      const std::string what = describe(GetParam(), pass, c);
      const auto first = expect_matches_reference(stream(runs[0].seed, runs[0].workers), GetParam(), p, what);
      for (std::size_t r = 1; r < runs.size(); ++r) {
        const auto again = check::run(stream(runs[r].seed, runs[r].workers), GetParam(), p);
        for (std::size_t o = 0; o < first.size(); ++o)
          EXPECT_TRUE(same_bits(first[o].got, again[o].got))
              << what << ", output " << first[o].output << ": thread-order seed " << runs[r].seed << " with "
              << runs[r].workers << " workers differs from seed " << runs[0].seed;
      }
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
