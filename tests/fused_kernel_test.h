#pragma once
// Shared by the fused-step kernel tests (test_{latent,likelihood,adam,data}_kernels.cpp): the
// device they run on, the thread orders that must not change a bit, deterministic inputs, and
// an element-wise check against double precision that reports its worst case. Built twice:
// test_fused_kernels runs on the CPU executor; test_fused_kernels_gpu (VAE_TEST_ON_CUDA) runs
// the same checks on a GPU and skips, saying why, where there is none.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "common/counter_rng.h"
#include "device/device.h"
#include "model/config.h"
#include "tolerances.h"

// Suite names differ between the two builds (CudaLatentKernels.*): ctest keys test properties
// such as the cpu/gpu label by name, so the twins must not share names.
#if defined(VAE_TEST_ON_CUDA)
#define VAE_FUSED_SUITE(name) Cuda##name
#else
#define VAE_FUSED_SUITE(name) name
#endif

namespace fused_test {

using vae::device::Kind;
using vae::device::Stream;

#if defined(VAE_TEST_ON_CUDA)
constexpr Kind kDevice = Kind::cuda;
#else
constexpr Kind kDevice = Kind::emu;
#endif

inline Stream stream(std::uint64_t thread_order_seed = 0x5eed, unsigned workers = 0) {
  return Stream(kDevice, vae::emu::Options{thread_order_seed, workers});
}

// Runs that must give the same bits: thread-order seeds and worker counts on the CPU executor;
// run after run on a GPU.
struct ThreadOrder {
  std::uint64_t seed;
  unsigned workers;
};
inline std::vector<ThreadOrder> thread_orders() {
  if (kDevice == Kind::emu) return {{1, 1}, {2, 2}, {3, 3}, {0xfeedbeef, 2}};
  return {{0, 0}, {0, 0}, {0, 0}};
}

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (kDevice == Kind::cuda && !vae::device::cuda_usable(&why)) GTEST_SKIP() << "no usable GPU: " << why;
  }
};

// The shapes every family is checked on: the default model's, and odd ones (one image, several
// samples, widths that are multiples of nothing; more images than a block has threads).
struct Shape {
  int batch, samples, latent, pixels;  // B, K, Z, D
  std::string label() const {
    return "B=" + std::to_string(batch) + " K=" + std::to_string(samples) + " Z=" + std::to_string(latent) +
           " D=" + std::to_string(pixels);
  }
};
inline std::vector<Shape> shapes() { return {{128, 1, 20, 784}, {1, 3, 7, 33}, {300, 2, 7, 33}}; }

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Deterministic inputs: uniform floats in [lo, hi) from the counter RNG, one stream per input.
inline std::vector<float> uniform_floats(std::size_t n, double lo, double hi, std::uint64_t stream) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = float(lo + (hi - lo) * vae::counter_uniform(0x7e57, stream, i));
  return v;
}

// One pixel of the likelihood in double (the reference's formulas, reference/README.md), with
// the magnitudes the tolerances scale by (tolerances.h: kLikelihoodRecon, kLikelihoodGradient):
// the NLL and what it is summed from; dL/do (divided by K) and its scale.
struct PixelExpectation {
  double nll, nll_scale, gradient, gradient_scale;
};
inline PixelExpectation expected_pixel(vae::Likelihood lik, double o, double x, int samples) {
  const double m = o >= 0 ? 1.0 / (1.0 + std::exp(-o)) : std::exp(o) / (1.0 + std::exp(o));
  if (lik == vae::Likelihood::Bernoulli) {
    const double tail = std::log1p(std::exp(-std::fabs(o)));
    return {std::max(o, 0.0) - o * x + tail, std::max(o, 0.0) + std::fabs(o * x) + tail, (m - x) / samples,
            (std::fabs(m) + std::fabs(x)) / samples};
  }
  constexpr double kHalfLog2Pi = 0.91893853320467274178;
  return {0.5 * (x - m) * (x - m) + kHalfLog2Pi, 0.5 * (std::fabs(x) + m) * (std::fabs(x) + m) + kHalfLog2Pi,
          (m - x) * m * (1.0 - m) / samples, (m + std::fabs(x)) * m * (std::fabs(1.0 - m) + m) / samples};
}

// |got - want| <= tolerance.bound(n) * scale for every element; keeps the worst ratio of the
// error to its bound, printed by report() so that runs show the margin.
class ElementwiseCheck {
 public:
  ElementwiseCheck(const vae::tol::KernelTolerance& tolerance, std::string what)
      : tolerance_(tolerance), what_(std::move(what)) {}

  void add(double got, double want, double scale, double n, std::size_t index) {
    const double bound = tolerance_.bound(n) * scale;
    const double error = std::fabs(got - want);
    const bool ok = error <= bound || (std::isnan(got) && std::isnan(want)) || (got == want);
    const double ratio = bound > 0 ? error / bound : (error == 0 ? 0.0 : INFINITY);
    if (!ok) {
      if (++failures_ <= 5)
        ADD_FAILURE() << what_ << " [" << tolerance_.name << "] element " << index << ": got " << got << ", want "
                      << want << ", |error| " << error << " > bound " << bound;
    } else if (ratio > worst_ratio_) {
      worst_ratio_ = ratio;
      worst_error_ = error;
    }
    ++checked_;
  }
  void report() const {
    std::cout << "[fused-tol] " << tolerance_.name << " " << what_ << ": " << checked_ << " values, worst "
              << worst_ratio_ * 100.0 << "% of the bound (|error| " << worst_error_ << ")"
              << (failures_ ? ", " + std::to_string(failures_) + " FAILED" : std::string()) << "\n";
  }
  std::size_t checked() const { return checked_; }

 private:
  const vae::tol::KernelTolerance& tolerance_;
  std::string what_;
  std::size_t checked_ = 0, failures_ = 0;
  double worst_ratio_ = 0, worst_error_ = 0;
};

}  // namespace fused_test
