#pragma once
// What the kernel-family tests share (test_gemm_kernels, test_conv_kernels,
// test_batch_norm_kernels): the device the binary runs on (the CPU executor, or with
// VAE_TEST_ON_CUDA a GPU), a stream under a chosen thread order, the judge's verdict as a test
// expectation, bitwise comparison, and the fixture that skips without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/gemm_check.h"

namespace vae::testing {

#if defined(VAE_TEST_ON_CUDA)
inline constexpr device::Kind kKernelDevice = device::Kind::cuda;
#else
inline constexpr device::Kind kKernelDevice = device::Kind::emu;
#endif

inline device::Stream kernel_stream(std::uint64_t thread_order_seed = 0x5eed, unsigned workers = 0) {
  return device::Stream(kKernelDevice, emu::Options{thread_order_seed, workers});
}

// Thread orders and worker counts a race-free kernel must give the same bits under (on a GPU:
// repeated runs); the first is the reference run.
struct ThreadOrder {
  std::uint64_t seed;
  unsigned workers;
};
inline std::vector<ThreadOrder> thread_orders() {
  if (kKernelDevice == device::Kind::emu) return {{1, 1}, {2, 2}, {3, 3}, {0xfeedbeef, 2}};
  return {{0, 0}, {0, 0}, {0, 0}};
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Every output within its tolerance, or a failure naming it with the judge's figures.
inline void expect_all_pass(const std::vector<kernels::gemm::check::OutputResult>& results, const std::string& what) {
  for (const kernels::gemm::check::OutputResult& r : results) {
    const auto& c = r.comparison;
    EXPECT_TRUE(c.pass) << what << ", output " << r.output << ": max abs " << c.max_abs << ", norm-wise " << c.norm_rel
                        << ", worst element-wise " << c.worst_elementwise << " (" << c.percent_of_tolerance
                        << "% of tolerance), worst element " << c.worst_index;
  }
}

// Outputs of `again` bit for bit those of `first`.
inline void expect_same_bits(const std::vector<kernels::gemm::check::OutputResult>& first,
                             const std::vector<kernels::gemm::check::OutputResult>& again, const std::string& what,
                             const ThreadOrder& order) {
  ASSERT_EQ(again.size(), first.size()) << what;
  for (std::size_t o = 0; o < first.size(); ++o)
    EXPECT_TRUE(same_bits(first[o].got, again[o].got))
        << what << ", output " << first[o].output << ": thread-order seed " << order.seed << " with " << order.workers
        << " workers differs from the first run";
}

// A version-parameterised kernel suite: skips, saying why, on a GPU binary without a GPU.
template <class Version>
class KernelVersionTest : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    std::string why;
    if (kKernelDevice == device::Kind::cuda && !device::cuda_usable(&why)) GTEST_SKIP() << "no usable GPU: " << why;
  }
};

}  // namespace vae::testing
