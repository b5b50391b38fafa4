// Every backend against the reference on the backend matrix (validation/backend_checks.h),
// on real MNIST test images. Built twice: for the CPU (label cpu) and, with
// VAE_TEST_DEVICE="cuda", for the GPU (label gpu), where each test skips with the backend's
// reason when it cannot run here.
#include <gtest/gtest.h>

#include "mnist_data.h"
#include "sanitizer_tier.h"
#include "backend/registry.h"
#include "registered_backends.h"
#include "common/device_names.h"
#include "backend_checks.h"
#include "libtorch/cpu_bf16.h"

#include <algorithm>
#include <iostream>

#ifndef VAE_TEST_DEVICE
#define VAE_TEST_DEVICE "cpu"
#define VAE_TEST_PREFIX Cpu
#endif

namespace vae {
namespace {

using testing::mnist;

struct MatrixEntry {
  std::string backend, device, precision;
  ValidationCase vcase;
  std::string bounded;  // what stands in for the full form here, and why ("" when it is the full form)
};

void PrintTo(const MatrixEntry& e, std::ostream* os) {
  *os << e.backend << "/" << e.device << "/" << e.precision << "/" << e.vcase.name;
}

// The devices this binary covers: the GPU, or the host's: cpu, and cuda-emu (our CUDA kernels
// on the CPU executor).

// Every registered backend on every device of this binary, in every precision it offers
// (the registry is the list: a new backend is tested without touching this file). fp32 runs
// the whole matrix; fp64 proves the structure with the tight bound, tf32 and bf16 exercise
// the tensor-core and mixed-precision bounds, on the batch-128 cases -- but for convolutional models on the CPU
// executor, where conv-mnist at batch 16 stands in for batch 128 (95 s there; the same kernels
// and tile edges, the split included), and at bf16 on a CPU that emulates bf16 (libtorch/cpu_bf16.h),
// where conv-mnist at batch 128 took 69-74 s a backend against 17-20 s with native bf16 (the
// same autocast ops and convolutions at batch 16; the bounded form, said in the test's output).
// The entry keeps its name (ctest's list is made when the binary is built, the tier is decided
// when it runs: VAE_CPU_BF16 may differ) and runs the stand-in case.
std::vector<MatrixEntry> entries() {
  std::vector<MatrixEntry> out;
  for (const BackendInfo& info : registered_backends()) {
    if (info.name == "reference") continue;  // the judge
    for (const std::string& device : info.devices) {
      if (!testing::covered_by(VAE_TEST_DEVICE, device)) continue;
      for (const std::string& precision : precisions_on(info, device)) {  // tf32: tensor cores, or their emulation
        const bool emulated_bf16 = device == "cpu" && precision == "bf16" && !libtorch::cpu_bf16_support().native;
        for (const ValidationCase& c : backend_matrix()) {
          const bool mlp = c.config.is_mlp(), conv_mnist = c.config.model == "conv-mnist";
          const int other_precisions_batch = device == "cuda-emu" && !mlp ? 16 : 128;
          if (precision == "fp32" || (c.batch == other_precisions_batch && (mlp || conv_mnist)))
            out.push_back({info.name, device, precision, c,
                           emulated_bf16 && conv_mnist ? "conv-mnist-b16 runs for conv-mnist-b128 (" +
                                                             libtorch::describe(libtorch::cpu_bf16_support()) + ")"
                                                       : ""});
        }
      }
    }
  }
  return out;
}

// The sanitizer tier (sanitizer_tier.h): every backend, precision and layer kind runs there,
// each code path once at a small size. Under ASan a batch-1000 case with its ten per-step
// reference checks takes 65-150 s, an MLP batch-128 case 25-45 s (the same code as at batch 1
// but for the batched path, which default-b128 runs), conv-celeba64 (4.5M parameters) minutes;
// the convolutional layer kinds run there at batch 1-5 (conv-mnist b1, conv-odd b5,
// conv-dense-between b5, conv-bn b2, conv-bn-k3 b2).
std::string release_only(const MatrixEntry& e) {
  const ValidationCase& c = e.vcase;
  if (c.batch > 128) return "batch " + std::to_string(c.batch);
  if (c.config.is_mlp() && c.batch > 1 && c.name != "default-b128")
    return "MLP batch " + std::to_string(c.batch) + " other than default-b128";
  // Our kernels on the CPU executor at batch 128 took 71-83 s each under ASan; their batched
  // path runs there in FusedBackend's tests (batches 17-32) and the GEMM tests (every version).
  if (e.device == "cuda-emu" && c.batch > 5) return "the CPU executor at batch " + std::to_string(c.batch);
  // Convolutional models on the executor: conv-mnist b1 (conv, transposed conv, the
  // likelihood epilogue) and conv-bn-k3 b2 (batch norm, K = 3) once; conv-odd took 83 s under
  // ASan, and the conv kernels' own tests run every geometry and activation there.
  if (e.device == "cuda-emu" && !c.config.is_mlp() && c.name != "conv-mnist-b1" && c.name != "conv-bn-k3-b2")
    return "the CPU executor on convolutional cases other than conv-mnist-b1 and conv-bn-k3-b2";
  // MLPs that differ from the default only in their sizes (hidden widths, latent): the same code.
  const VaeConfig d;
  if (c.config.is_mlp() && c.name.rfind("default-", 0) != 0 && c.config.activation == d.activation &&
      c.config.likelihood == d.likelihood && c.config.samples == d.samples && c.config.beta == d.beta)
    return "an MLP that differs from the default only in its sizes";
  if (c.config.model == "conv-celeba64") return "conv-celeba64 (4.5M parameters)";
  if (!c.config.is_mlp() && c.batch > 5) return "convolutional batch " + std::to_string(c.batch);
  return "";
}

const testing::TierSplit<MatrixEntry>& tiered_entries() {
  static const testing::TierSplit<MatrixEntry> s = testing::split_by_tier(entries(), release_only);
  return s;
}

class BackendMatrix : public ::testing::TestWithParam<MatrixEntry> {};

TEST_P(BackendMatrix, MatchesTheReference) {
  const MatrixEntry& e = GetParam();
  if (const std::string why = testing::unusable_reason(e.backend, e.device); !why.empty()) GTEST_SKIP() << why;
  if (const std::string why = testing::unsupported_reason(e.backend, e.vcase.config); !why.empty())
    GTEST_SKIP() << "not supported for this model: " << why;
  ValidationCase vcase = e.vcase;
  if (!e.bounded.empty()) {
    std::cout << "[bounded form] Cpu/BackendMatrix at bf16: " << e.bounded << "\n";
    const std::vector<ValidationCase> matrix = backend_matrix();
    const auto it = std::find_if(matrix.begin(), matrix.end(), [](const ValidationCase& c) { return c.name == "conv-mnist-b16"; });
    ASSERT_NE(it, matrix.end()) << "the backend matrix lost conv-mnist-b16, the bounded form's case";
    vcase = *it;
  }
  const CaseInputs in = make_inputs(vcase, &mnist(), Binarize::None);
  if (vcase.config.input_dim == 784)  // MNIST-shaped models run on MNIST, the others on synthetic images
    ASSERT_NE(in.x_source.find("MNIST test images"), std::string::npos) << in.x_source;
  const ExpectedOutputs expected = expected_outputs(vcase, in);
  const std::unique_ptr<Backend> backend = create_backend(e.backend, vcase.config, e.device, e.precision);
  const CaseResult r = check_backend(*backend, vcase, in, expected);
  ASSERT_FALSE(r.comparisons.empty());
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", " << cmp.percent_of_tolerance
                            << "% of " << cmp.tolerance_name;
  EXPECT_TRUE(r.passed);
}

// The prefix keeps the CPU and GPU builds' test names apart in ctest.
INSTANTIATE_TEST_SUITE_P(VAE_TEST_PREFIX, BackendMatrix, ::testing::ValuesIn(tiered_entries().run), [](const auto& info) {
  const MatrixEntry& e = info.param;
  std::string s = e.backend + (e.device == "cpu" || e.device == "cuda" ? "" : "_" + e.device) + "_" + e.precision + "_" + e.vcase.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

VAE_TIER_REPORT_TEST(BackendMatrixTier, tiered_entries())

}  // namespace
}  // namespace vae
