// The validation matrix of `vaebench validate` on real MNIST test images: every case must
// pass every check (finite differences, LibTorch float64 autograd, Adam, importance sampling).
#include <gtest/gtest.h>

#include "mnist_data.h"
#include "reference_checks.h"

namespace vae {

// Found by ADL (namespace vae), so test listings name the case instead of dumping bytes.
// Only the name: ctest's test-list handling (CMake 3.25) breaks on brackets in test names.
void PrintTo(const ValidationCase& c, std::ostream* os) { *os << c.name; }

namespace {

using testing::mnist;

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

INSTANTIATE_TEST_SUITE_P(Matrix, ReferenceMatrix, ::testing::ValuesIn(reference_matrix()), [](const auto& info) {
  std::string s = info.param.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

}  // namespace
}  // namespace vae
