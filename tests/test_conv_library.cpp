// `vaebench-kernels bench --cudnn`'s comparison (bench/kernels_torch_conv.h): LibTorch's
// convolution of the same layer, judged against the same double-precision reference as our
// conv family. Built twice: test_conv_library runs LibTorch's CPU convolution (fp32), which
// proves the mapping of geometry (stride, padding, output padding, the transposed weight's
// shape), activation and outputs before a GPU is spent on it; test_conv_library_gpu
// (VAE_TEST_ON_CUDA) runs cuDNN in fp32 (TF32 off) and tf32, and skips without a GPU.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "kernel_family_test.h"
#include "kernels/conv/conv_check.h"
#include "kernels_torch_conv.h"
#include "model/flops.h"
#include "model/layers.h"

namespace {

namespace conv = vae::kernels::conv;
namespace check = vae::kernels::conv::check;
using vae::bench::kernels::LibraryCall;
using vae::bench::kernels::torch_conv_call;
using vae::device::Kind;
constexpr Kind kDevice = vae::testing::kKernelDevice;

#if defined(VAE_TEST_ON_CUDA)
#define VAE_CONV_LIBRARY ConvLibraryOnCuda
#else
#define VAE_CONV_LIBRARY ConvLibrary
#endif

std::vector<const char*> precisions() {
  if (kDevice == Kind::cuda) return {"fp32", "tf32"};
  return {"fp32"};
}

std::vector<check::Case> cases() {
  std::vector<check::Case> all = check::preset_layers(kDevice == Kind::cuda ? 128 : 3);
  for (const check::Case& c : check::odd_cases()) all.push_back(c);
  return all;
}

class VAE_CONV_LIBRARY : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (kDevice == Kind::cuda && !vae::device::cuda_usable(&why)) GTEST_SKIP() << "no usable GPU: " << why;
    ASSERT_TRUE(vae::bench::kernels::torch_conv_available(&why)) << why;
    stream_.emplace(kDevice);  // after the skip: a GPU stream needs a GPU
  }
  const vae::device::Stream& stream() const { return *stream_; }

 private:
  std::optional<vae::device::Stream> stream_;
};

TEST_F(VAE_CONV_LIBRARY, EveryPresetLayerAndOddGeometryMatchesTheReference) {
  int judged = 0;
  for (const char* precision : precisions())
    for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward})
      for (const check::Case& c : cases()) {
        const check::Prepared p = check::prepare(pass, c);
        const std::shared_ptr<LibraryCall> call = torch_conv_call(stream(), precision, p);
        EXPECT_TRUE(call->failures.empty())
            << call->name << (pass == conv::Pass::forward ? " forward " : " backward ") << c.name << " (" << c.label()
            << "): " << (call->failures.empty() ? "" : call->failures.front());
        EXPECT_GT(call->flops, 0);
        ++judged;
      }
  EXPECT_EQ(judged, int(precisions().size()) * 2 * int(cases().size()));
}

// The judge can trip: the same call against an expectation that is off by one part in 10^3
// in one output must be reported (each output in turn).
TEST_F(VAE_CONV_LIBRARY, AWrongExpectationIsReported) {
  const check::Case c = check::odd_cases().front();
  for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward}) {
    const check::Prepared good = check::prepare(pass, c);
    for (std::size_t o = 0; o < good.expected.size(); ++o) {
      check::Prepared off = good;
      for (double& v : off.expected[o].want) v *= 1.001;
      const std::shared_ptr<LibraryCall> call = torch_conv_call(stream(), "fp32", off);
      ASSERT_FALSE(call->failures.empty()) << "output " << good.outputs[o] << " off by 1e-3 passed";
      EXPECT_NE(call->failures.front().find(good.outputs[o]), std::string::npos) << call->failures.front();
    }
  }
}

// The work counted per call is the work model's (model/flops.h): a preset's conv layers'
// forward flops add up to its conv part of count_flops.
TEST_F(VAE_CONV_LIBRARY, CountedFlopsAreTheWorkModels) {
  const vae::ModelLayers layers(vae::preset_spec("conv-mnist"));
  double forward = 0, model = 0;
  for (const vae::DerivedLayer& l : layers.layers()) {
    if (l.spec.kind == vae::LayerKind::Dense) continue;
    const double rows = 1;  // per image
    model += 2.0 * rows * double(l.macs) + rows * double(l.out.numel());
  }
  for (const check::Case& c : check::preset_layers(1))
    if (c.name.rfind("conv-mnist ", 0) == 0)
      forward += vae::bench::kernels::conv_work(check::prepare(conv::Pass::forward, c), true).flops;
  EXPECT_GT(model, 0);
  EXPECT_DOUBLE_EQ(forward, model);
}

TEST_F(VAE_CONV_LIBRARY, RefusesWhatItCannotRun) {
  const check::Prepared p = check::prepare(conv::Pass::forward, check::odd_cases().front());
  EXPECT_THROW(torch_conv_call(stream(), "bf16", p), vae::Error);
  if (kDevice == Kind::emu) EXPECT_THROW(torch_conv_call(stream(), "tf32", p), vae::Error);
}

}  // namespace
