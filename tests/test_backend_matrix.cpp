// Every backend against the reference on the backend matrix (validation/backend_checks.h),
// on real MNIST test images. Built twice: for the CPU (label cpu) and, with
// VAE_TEST_DEVICE="cuda", for the GPU (label gpu), where each test skips with the reason
// when LibTorch sees no CUDA device.
#include <gtest/gtest.h>

#include "backend/libtorch_backend.h"
#include "backend/registry.h"
#include "backend_checks.h"

#ifndef VAE_TEST_DEVICE
#define VAE_TEST_DEVICE "cpu"
#define VAE_TEST_PREFIX Cpu
#endif

namespace vae {
namespace {

struct MatrixEntry {
  std::string backend, precision;
  ValidationCase vcase;
};

void PrintTo(const MatrixEntry& e, std::ostream* os) { *os << e.backend << "/" << e.precision << "/" << e.vcase.name; }

std::vector<MatrixEntry> entries() {
  const std::string device = VAE_TEST_DEVICE;
  std::vector<std::string> backends = {"libtorch-eager", "torchscript"};
  if (device != "cpu") backends.push_back("libtorch-cudagraph");
  std::vector<MatrixEntry> out;
  for (const std::string& b : backends)
    for (const ValidationCase& c : backend_matrix()) out.push_back({b, "fp32", c});
  // fp64 proves the structure with the tight bound; tf32 exercises the tensor-core bounds.
  for (const ValidationCase& c : backend_matrix())
    if (c.batch == 128) out.push_back({"libtorch-eager", "fp64", c});
  if (device != "cpu")
    for (const ValidationCase& c : backend_matrix())
      if (c.batch == 128) out.push_back({"libtorch-eager", "tf32", c});
  return out;
}

class BackendMatrix : public ::testing::TestWithParam<MatrixEntry> {
 protected:
  static const Dataset& mnist() {
    static const Dataset d = load_dataset(VAE_SOURCE_DIR "/data/mnist", DatasetKind::Mnist);
    return d;
  }
};

TEST_P(BackendMatrix, MatchesTheReference) {
  const MatrixEntry& e = GetParam();
  if (std::string(VAE_TEST_DEVICE) != "cpu") {
    std::string reason;
    if (!torch_cuda_usable(reason)) GTEST_SKIP() << reason;
  }
  const CaseInputs in = make_inputs(e.vcase, &mnist(), Binarize::None);
  ASSERT_NE(in.x_source.find("MNIST test images"), std::string::npos) << in.x_source;
  const ExpectedOutputs expected = expected_outputs(e.vcase, in);
  const std::unique_ptr<Backend> backend = create_backend(e.backend, e.vcase.config, VAE_TEST_DEVICE, e.precision);
  const CaseResult r = check_backend(*backend, e.vcase, in, expected);
  ASSERT_FALSE(r.comparisons.empty());
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", " << cmp.percent_of_tolerance
                            << "% of " << cmp.tolerance_name;
  EXPECT_TRUE(r.passed);
}

// The prefix keeps the CPU and GPU builds' test names apart in ctest.
INSTANTIATE_TEST_SUITE_P(VAE_TEST_PREFIX, BackendMatrix, ::testing::ValuesIn(entries()), [](const auto& info) {
  std::string s = info.param.backend + "_" + info.param.precision + "_" + info.param.vcase.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

}  // namespace
}  // namespace vae
