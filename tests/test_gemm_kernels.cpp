// The GEMM family (impl/kernels/gemm.cu), every version, against the double-precision
// reference: the default model's layers and odd shapes, forward and backward, every
// activation, bitwise-identical results under several thread orders and worker counts, the
// uint8 input path, tf32 really rounding. Built twice: test_gemm_kernels runs on the CPU
// executor; test_gemm_kernels_gpu (VAE_TEST_ON_CUDA) runs the same checks on a GPU, and
// skips with the reason where there is none.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "common/bf16.h"
#include "common/error.h"
#include "device/device.h"
#include "kernels/gemm.h"
#include "kernels/gemm_check.h"
#include "kernels/gemm_plan.h"
#include "kernel_family_test.h"

namespace {

namespace gemm = vae::kernels::gemm;
namespace check = vae::kernels::gemm::check;
using gemm::Activation;
using gemm::Pass;
using gemm::Version;
using vae::device::Kind;
using vae::device::Stream;

// The two binaries' test names differ, so ctest lists both.
#if defined(VAE_TEST_ON_CUDA)
#define VAE_GEMM_PREFIX GemmOnCuda
#define VAE_GEMM_TF32_SUITE GemmTf32OnCuda
#else
#define VAE_GEMM_PREFIX Gemm
#define VAE_GEMM_TF32_SUITE GemmTf32
#endif
using vae::testing::same_bits;
constexpr Kind kDevice = vae::testing::kKernelDevice;

Stream stream(std::uint64_t thread_order_seed = 0x5eed, unsigned workers = 0) {
  return vae::testing::kernel_stream(thread_order_seed, workers);
}

std::string describe(Version v, Pass pass, const check::Shape& shape, Activation act, bool bytes) {
  return std::string(gemm::version_name(v)) + (pass == Pass::forward ? " forward " : " backward ") +
         gemm::activation_name(act) + " M,N,K=" + shape.label() + (bytes ? " uint8 input" : "");
}

// Runs v once and expects every output within tolerance; returns the results.
std::vector<check::OutputResult> expect_matches_reference(const Stream& s, Version v, const check::Prepared& p,
                                                          const std::string& what) {
  std::vector<check::OutputResult> results = check::run(s, v, p);
  vae::testing::expect_all_pass(results, what);
  return results;
}

using GemmVersion = vae::testing::KernelVersionTest<Version>;

TEST_P(GemmVersion, DefaultModelLayersMatchDoublePrecision) {
  const Stream s = stream();
  for (const check::Layer& layer : check::default_model_layers())
    for (Pass pass : {Pass::forward, Pass::backward}) {
      const check::Prepared p = check::prepare(pass, layer.shape, layer.activation, layer.byte_input);
      expect_matches_reference(s, GetParam(), p,
                               layer.name + ": " + describe(GetParam(), pass, layer.shape, layer.activation, layer.byte_input));
    }
}

// Shapes that are multiples of no tile size, every activation, forward and backward.
TEST_P(GemmVersion, OddShapesEveryActivationMatchDoublePrecision) {
  const Stream s = stream();
  for (const check::Shape& shape : check::odd_shapes())
    for (Activation act : {Activation::identity, Activation::relu, Activation::tanh})
      for (Pass pass : {Pass::forward, Pass::backward}) {
        const check::Prepared p = check::prepare(pass, shape, act, false);
        expect_matches_reference(s, GetParam(), p, describe(GetParam(), pass, shape, act, false));
      }
}

// Race-free kernels that sum in a fixed order give the same bits under every thread order and
// any number of host threads (on a GPU: run after run).
TEST_P(GemmVersion, BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  const std::vector<vae::testing::ThreadOrder> runs = vae::testing::thread_orders();
  // Small odd shapes plus the heads layer, whose forward splits K in v4 and v5.
  const std::vector<check::Shape> shapes = {{33, 65, 7}, {130, 45, 70}, {128, 400, 40}};
  for (const check::Shape& shape : shapes)
    for (Pass pass : {Pass::forward, Pass::backward}) {
      const Activation act = pass == Pass::forward ? Activation::tanh : Activation::relu;
      const check::Prepared p = check::prepare(pass, shape, act, pass == Pass::backward);
      const std::string what = describe(GetParam(), pass, shape, act, pass == Pass::backward);
      const std::vector<check::OutputResult> first = expect_matches_reference(stream(runs[0].seed, runs[0].workers), GetParam(), p, what);
      for (std::size_t r = 1; r < runs.size(); ++r)
        vae::testing::expect_same_bits(first, check::run(stream(runs[r].seed, runs[r].workers), GetParam(), p), what,
                                       runs[r]);
    }
}

// Bytes are read as byte / 255: the same bits as floats holding float(byte) / 255.
TEST_P(GemmVersion, ByteInputEqualsItsFloatValues) {
  const Stream s = stream();
  const check::Shape shape{67, 35, 19};
  for (Pass pass : {Pass::forward, Pass::backward}) {
    const check::Prepared bytes = check::prepare(pass, shape, Activation::relu, true);
    check::Prepared floats = bytes;
    for (std::uint8_t b : bytes.layer.x_bytes) floats.layer.x.push_back(float(b) / 255.0f);
    floats.layer.x_bytes.clear();
    const std::string what = describe(GetParam(), pass, shape, Activation::relu, true);
    const auto from_bytes = expect_matches_reference(s, GetParam(), bytes, what);
    const auto from_floats = check::run(s, GetParam(), floats);
    for (std::size_t o = 0; o < from_bytes.size(); ++o)
      EXPECT_TRUE(same_bits(from_bytes[o].got, from_floats[o].got)) << what << ", output " << from_bytes[o].output;
  }
}

std::vector<Version> every_version() {
  std::vector<Version> v;
  for (int i = gemm::kFirstVersion; i <= gemm::kLastVersion; ++i) v.push_back(gemm::version_from_int(i));
  return v;
}

INSTANTIATE_TEST_SUITE_P(VAE_GEMM_PREFIX, GemmVersion, ::testing::ValuesIn(every_version()),
                         [](const ::testing::TestParamInfo<Version>& info) {
                           return "v" + std::to_string(int(info.param));
                         });

class VAE_GEMM_TF32_SUITE : public GemmVersion {};

// tf32 within its tolerance, and measurably not fp32: its norm-wise error is above what fp32
// could produce, so the operands really were rounded to 10 bits.
TEST_F(VAE_GEMM_TF32_SUITE, RoundsOperandsAndStaysWithinTf32Tolerance) {
  const Stream s = stream();
  const check::Shape shape{128, 784, 400};
  for (Pass pass : {Pass::forward, Pass::backward}) {
    // tanh: no output or gradient is clipped to an exact zero that both would share.
    const check::Prepared p = check::prepare(pass, shape, Activation::tanh, false);
    const auto tf32 = expect_matches_reference(s, Version::tf32_wmma, p, describe(Version::tf32_wmma, pass, shape, Activation::tanh, false));
    const auto fp32 = check::run(s, Version::register_blocked, p);
    for (std::size_t o = 0; o < tf32.size(); ++o) {
      if (tf32[o].output == "db") continue;  // the bias gradient is summed in fp32 by design
      std::size_t differing = 0;
      for (std::size_t i = 0; i < tf32[o].got.size(); ++i) differing += tf32[o].got[i] != fp32[o].got[i];
      EXPECT_GT(differing, tf32[o].got.size() / 2) << "output " << tf32[o].output << ": tf32 equals fp32 almost everywhere";
      const int n = p.expected[o].accumulation_length;
      EXPECT_GT(tf32[o].comparison.norm_rel, vae::tol::kGemmFp32.normwise(n))
          << "output " << tf32[o].output << ": tf32's error is within fp32's bound; are the operands rounded?";
      EXPECT_LE(fp32[o].comparison.norm_rel, vae::tol::kGemmFp32.normwise(n));
    }
  }
}

using vae::round_to_bf16;

// v6 within gemm-bf16 and measurably not tf32 (its error several times tf32's: the operands
// are rounded to 8 bits, not 11). And the bound matters: the same forward with the sums kept
// in bf16 (a GEMM without fp32 accumulation, computed here on the host) fails it.
TEST_F(VAE_GEMM_TF32_SUITE, Bf16RoundsOperandsToEightBitsAndBf16SumsFailItsBound) {
  const Stream s = stream();
  const check::Shape shape{128, 784, 400};
  const check::Prepared p = check::prepare(Pass::forward, shape, Activation::identity, false);
  const auto bf16_run = expect_matches_reference(s, Version::bf16_wmma, p, describe(Version::bf16_wmma, Pass::forward, shape, Activation::identity, false));
  const auto tf32_run = check::run(s, Version::tf32_wmma, p);
  EXPECT_GT(bf16_run[0].comparison.norm_rel, 4.0 * tf32_run[0].comparison.norm_rel)
      << "bf16's error is not well above tf32's; are the operands rounded to bf16?";
  const vae::kernels::gemm::reference::Layer& l = p.layer;
  std::vector<float> summed_in_bf16(size_t(l.batch) * l.out);
  for (int i = 0; i < l.batch; ++i)
    for (int j = 0; j < l.out; ++j) {
      float acc = 0.0f;
      for (int k = 0; k < l.in; ++k)
        acc = round_to_bf16(acc + round_to_bf16(round_to_bf16(l.x[size_t(i) * l.in + k]) *
                                                round_to_bf16(l.weight[size_t(j) * l.in + k])));
      summed_in_bf16[size_t(i) * l.out + j] = acc + (l.bias.empty() ? 0.0f : l.bias[size_t(j)]);
    }
  const auto planted = vae::kernels::gemm::reference::compare(summed_in_bf16, p.expected[0], vae::tol::kGemmBf16);
  EXPECT_FALSE(planted.pass) << "a GEMM summed in bf16 passes gemm-bf16: norm-wise " << planted.norm_rel;
}

// --- The plan and the arguments (device-independent: CPU binary only) ---------------------
#if !defined(VAE_TEST_ON_CUDA)

TEST(GemmPlan, SplitKSplitsTheSmallModelLayersAndOnlyThere) {
  // Batch 128: the heads (N = 40) and 784→400 (2×7 blocks) are far from filling a GPU.
  EXPECT_GT(gemm::plan::split(Version::split_k, 128, 40, 400).slices, 1);
  EXPECT_GT(gemm::plan::split(Version::split_k, 128, 400, 784).slices, 1);
  EXPECT_GT(gemm::plan::split(Version::tf32_wmma, 128, 400, 784).slices, 1);
  EXPECT_EQ(gemm::plan::split(Version::register_blocked, 128, 40, 400).slices, 1);
  EXPECT_EQ(gemm::plan::split(Version::split_k, 4096, 4096, 784).slices, 1);
  // Every slice is non-empty and together they cover K.
  for (int depth : {1, 31, 33, 400, 785}) {
    const auto sp = gemm::plan::split(Version::split_k, 1, 7, depth);
    EXPECT_GE(sp.slices, 1);
    EXPECT_GE(sp.slice_depth * sp.slices, depth);
    EXPECT_LT(sp.slice_depth * (sp.slices - 1), depth);
  }
}

// The judge can fail: one product term missing from one output (the largest of that output's
// terms) fails the element-wise check, and the last term missing from every output (a lost
// ragged tile) fails the norm-wise check, under the fp32 and the tf32 bounds alike.
TEST(GemmJudge, CatchesADroppedTerm) {
  const check::Shape shape{128, 784, 400};
  const check::Prepared p = check::prepare(Pass::forward, shape, Activation::identity, false);
  const std::vector<float> good = check::run(stream(), Version::register_blocked, p)[0].got;
  const auto& x = p.layer.x;
  const auto& w = p.layer.weight;
  const auto term = [&](int m, int n, int k) { return x[std::size_t(m) * shape.in + k] * w[std::size_t(n) * shape.in + k]; };
  int largest = 0;
  for (int k = 1; k < shape.in; ++k)
    if (std::fabs(term(0, 0, k)) > std::fabs(term(0, 0, largest))) largest = k;
  std::vector<float> one_element = good, last_column = good;
  one_element[0] -= term(0, 0, largest);
  for (int m = 0; m < shape.batch; ++m)
    for (int n = 0; n < shape.out; ++n) last_column[std::size_t(m) * shape.out + n] -= term(m, n, shape.in - 1);
  for (const vae::tol::GemmTolerance* t : {&vae::tol::kGemmFp32, &vae::tol::kGemmTf32}) {
    EXPECT_TRUE(vae::kernels::gemm::reference::compare(good, p.expected[0], *t).pass) << t->name;
    const auto element = vae::kernels::gemm::reference::compare(one_element, p.expected[0], *t);
    EXPECT_FALSE(element.pass) << t->name << ": one dropped term passed, " << element.percent_of_tolerance << "% of tolerance";
    EXPECT_EQ(element.worst_index, 0) << t->name;
    const auto column = vae::kernels::gemm::reference::compare(last_column, p.expected[0], *t);
    EXPECT_FALSE(column.pass) << t->name << ": a dropped last term passed, " << column.percent_of_tolerance << "% of tolerance";
  }
}

TEST(GemmArguments, AreCheckedBeforeLaunching) {
  gemm::ForwardArgs f;
  f.batch = 2, f.in = 3, f.out = 4;
  float buffer[16] = {};
  f.weight = buffer, f.y = buffer;
  EXPECT_THROW(gemm::validate(Version::naive, f), vae::Error);  // neither x nor x_bytes
  f.x = buffer;
  EXPECT_NO_THROW(gemm::validate(Version::naive, f));
  EXPECT_THROW(gemm::validate(Version(9), f), vae::Error);
  f.batch = 128, f.in = 400, f.out = 40;  // v4 splits: a workspace is needed
  EXPECT_THROW(gemm::validate(Version::split_k, f), vae::Error);
  try {
    gemm::validate(Version::split_k, f);
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("workspace"), std::string::npos) << e.what();
  }
}
#endif

}  // namespace

namespace vae::kernels::gemm {
// Test names and messages show "v3 register-blocked", not the enum's bytes.
void PrintTo(Version v, std::ostream* os) { *os << version_name(v); }
}  // namespace vae::kernels::gemm
