// The validation matrix of `vaebench validate` on real MNIST test images: every case must
// pass every check (finite differences, LibTorch float64 autograd, Adam, importance sampling).
#include <gtest/gtest.h>

#include "mnist_data.h"
#include "sanitizer_tier.h"
#include "reference_checks.h"

namespace vae {

// Found by ADL (namespace vae), so test listings name the case instead of dumping bytes.
// Only the name: ctest's test-list handling (CMake 3.25) breaks on brackets in test names.
void PrintTo(const ValidationCase& c, std::ostream* os) { *os << c.name; }

namespace {

using testing::mnist;

// The sanitizer tier (sanitizer_tier.h): the reference's proofs of every layer kind, likelihood,
// activation, K and beta run there on the small cases; under ASan the batch-128 case took 197 s
// and the conv-mnist preset (finite differences over its 0.4M parameters) 110 s, the same code.
std::string release_only(const ValidationCase& c) {
  if (c.batch > 5) return "batch " + std::to_string(c.batch);
  if (c.config.model == "conv-mnist")
    return "the conv-mnist preset (its layer kinds are proven on conv-odd, conv-dense-between, conv-bn)";
  return "";
}

const testing::TierSplit<ValidationCase>& tiered_cases() {
  static const testing::TierSplit<ValidationCase> s = testing::split_by_tier(reference_matrix(), release_only);
  return s;
}

class ReferenceMatrix : public ::testing::TestWithParam<ValidationCase> {};

TEST_P(ReferenceMatrix, Passes) {
  const ValidationCase& c = GetParam();
  const CaseInputs in = make_inputs(c, &mnist(), Binarize::None);
  if (c.config.input_dim == 784)  // MNIST-shaped models run on MNIST, the others on synthetic images
    ASSERT_NE(in.x_source.find("MNIST test images"), std::string::npos) << in.x_source;
  const CaseResult r = check_reference(c, in);
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", "
                            << cmp.percent_of_tolerance << "% of tolerance";
  EXPECT_TRUE(r.passed);
}

INSTANTIATE_TEST_SUITE_P(Matrix, ReferenceMatrix, ::testing::ValuesIn(tiered_cases().run), [](const auto& info) {
  std::string s = info.param.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

VAE_TIER_REPORT_TEST(ReferenceMatrixTier, tiered_cases())

}  // namespace
}  // namespace vae
