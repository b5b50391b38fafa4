// Every backend against the reference on the backend matrix (validation/backend_checks.h),
// on real MNIST test images. Built twice: for the CPU (label cpu) and, with
// VAE_TEST_DEVICE="cuda", for the GPU (label gpu), where each test skips with the backend's
// reason when it cannot run here.
#include <gtest/gtest.h>

#include "backend/registry.h"
#include "registered_backends.h"
#include "common/device_names.h"
#include "backend_checks.h"

#ifndef VAE_TEST_DEVICE
#define VAE_TEST_DEVICE "cpu"
#define VAE_TEST_PREFIX Cpu
#endif

namespace vae {
namespace {

struct MatrixEntry {
  std::string backend, device, precision;
  ValidationCase vcase;
};

void PrintTo(const MatrixEntry& e, std::ostream* os) {
  *os << e.backend << "/" << e.device << "/" << e.precision << "/" << e.vcase.name;
}

// The devices this binary covers: the GPU, or the host's: cpu, and cuda-emu (our CUDA kernels
// on the CPU executor).

// Every registered backend on every device of this binary, in every precision it offers
// (the registry is the list: a new backend is tested without touching this file). fp32 runs
// the whole matrix; fp64 proves the structure with the tight bound and tf32 exercises the
// tensor-core bounds, on the batch-128 cases.
std::vector<MatrixEntry> entries() {
  std::vector<MatrixEntry> out;
  for (const BackendInfo& info : registered_backends()) {
    if (info.name == "reference") continue;  // the judge
    for (const std::string& device : info.devices) {
      if (!testing::covered_by(VAE_TEST_DEVICE, device)) continue;
      for (const std::string& precision : info.precisions) {
        if (precision == "tf32" && device == "cpu") continue;  // tensor cores, or their emulation
        for (const ValidationCase& c : backend_matrix())
          if (precision == "fp32" || c.batch == 128) out.push_back({info.name, device, precision, c});
      }
    }
  }
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
#if defined(__SANITIZE_ADDRESS__)
  // What the sanitizers check (every access, every operation's definedness) does not depend on
  // the batch; the time does: a batch-1000 case with its ten per-step reference checks takes
  // 65-150 s under ASan (11 CPU-minutes per backend). The Release build runs these cases.
  if (e.vcase.batch > 128)
    GTEST_SKIP() << "batch " << e.vcase.batch << " runs in the Release build (sanitizer time budget)";
  // Convolutional models: every layer kind and code path runs here at a small batch (conv-mnist
  // b1, conv-odd b5, conv-dense-between b5, conv-bn b2); the larger batches and the CelebA model
  // (4.5M parameters, 6-13 s per backend in Release) only add time under the sanitizers.
  if (!e.vcase.config.is_mlp() && (e.vcase.batch > 5 || e.vcase.config.model == "conv-celeba64"))
    GTEST_SKIP() << e.vcase.name << " runs in the Release build (sanitizer time budget; its layer kinds run here at "
                    "small batches)";
#endif
  if (const std::string why = testing::unusable_reason(e.backend, e.device); !why.empty()) GTEST_SKIP() << why;
  if (const std::string why = testing::unsupported_reason(e.backend, e.vcase.config); !why.empty())
    GTEST_SKIP() << "not supported for this model: " << why;
  const CaseInputs in = make_inputs(e.vcase, &mnist(), Binarize::None);
  if (e.vcase.config.input_dim == 784)  // MNIST-shaped models run on MNIST, the others on synthetic images
    ASSERT_NE(in.x_source.find("MNIST test images"), std::string::npos) << in.x_source;
  const ExpectedOutputs expected = expected_outputs(e.vcase, in);
  const std::unique_ptr<Backend> backend = create_backend(e.backend, e.vcase.config, e.device, e.precision);
  const CaseResult r = check_backend(*backend, e.vcase, in, expected);
  ASSERT_FALSE(r.comparisons.empty());
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", " << cmp.percent_of_tolerance
                            << "% of " << cmp.tolerance_name;
  EXPECT_TRUE(r.passed);
}

// The prefix keeps the CPU and GPU builds' test names apart in ctest.
INSTANTIATE_TEST_SUITE_P(VAE_TEST_PREFIX, BackendMatrix, ::testing::ValuesIn(entries()), [](const auto& info) {
  const MatrixEntry& e = info.param;
  std::string s = e.backend + (e.device == "cpu" || e.device == "cuda" ? "" : "_" + e.device) + "_" + e.precision + "_" + e.vcase.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

}  // namespace
}  // namespace vae
