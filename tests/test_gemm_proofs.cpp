// Proof that the CPU executor catches, in GEMM-shaped kernels, what it exists to catch:
//   - a tiled GEMM with one __syncthreads() removed gives wrong or seed-dependent results
//     under some thread order among a handful (both barriers, each removed in turn);
//   - writing one element past a dynamic or a static shared array is caught by the
//     sanitizer build (a death test; skipped, saying why, in other builds);
//   - a barrier that some threads return before is a named KernelError, not a hang.
// The kernels here are test-only copies, compiled by the host compiler through
// kernels/launch.h like any kernel family; production kernels are never edited to fail.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "common/counter_rng.h"
#include "device/device.h"
#include "kernels/launch.h"

namespace {

using vae::device::Array;
using vae::device::Kind;
using vae::device::Stream;
using vae::kernels::LaunchConfig;

// --- Kernels -----------------------------------------------------------------------------
// C[M,N] = A[M,K] · B[K,N], 16×16 tiles, as gemm.cu's v2 does it; Barriers says which of the
// two barriers of the tile loop are kept.
enum Barriers { kBoth, kNoneAfterLoads, kNoneAfterCompute };

template <int Kept>
__global__ void tiled_gemm(const float* a, const float* b, float* c, int m, int n, int k) {
  constexpr int T = 16;
  VAE_SHARED(a_tile, float[T][T]);
  VAE_SHARED(b_tile, float[T][T]);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int row = int(blockIdx.y) * T + ty, col = int(blockIdx.x) * T + tx;
  float sum = 0.0f;
  for (int p0 = 0; p0 < k; p0 += T) {
    a_tile[ty][tx] = row < m && p0 + tx < k ? a[row * k + p0 + tx] : 0.0f;
    b_tile[ty][tx] = col < n && p0 + ty < k ? b[(p0 + ty) * n + col] : 0.0f;
    if (Kept != kNoneAfterLoads) __syncthreads();
    for (int q = 0; q < T; ++q) sum += a_tile[ty][q] * b_tile[q][tx];
    if (Kept != kNoneAfterCompute) __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = sum;
}

// The classic mistake: bounds-checking by returning before the tile loop's barriers.
__global__ void tiled_gemm_early_return(const float* a, const float* b, float* c, int m, int n, int k) {
  constexpr int T = 16;
  VAE_SHARED(a_tile, float[T][T]);
  VAE_SHARED(b_tile, float[T][T]);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int row = int(blockIdx.y) * T + ty, col = int(blockIdx.x) * T + tx;
  if (row >= m || col >= n) return;
  float sum = 0.0f;
  for (int p0 = 0; p0 < k; p0 += T) {
    a_tile[ty][tx] = p0 + tx < k ? a[row * k + p0 + tx] : 0.0f;
    b_tile[ty][tx] = p0 + ty < k ? b[(p0 + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int q = 0; q < T; ++q) sum += a_tile[ty][q] * b_tile[q][tx];
    __syncthreads();
  }
  c[row * n + col] = sum;
}

// --- Helpers --------------------------------------------------------------------------------
struct Problem {
  int m, n, k;
  std::vector<float> a, b;
  std::vector<double> want, scale;
};

Problem problem(int m, int n, int k) {
  Problem p{m, n, k, {}, {}, {}, {}};
  for (int i = 0; i < m * k; ++i) p.a.push_back(float(2 * vae::counter_uniform(7, 1, i) - 1));
  for (int i = 0; i < k * n; ++i) p.b.push_back(float(2 * vae::counter_uniform(7, 2, i) - 1));
  p.want.assign(std::size_t(m) * n, 0.0);
  p.scale.assign(std::size_t(m) * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int q = 0; q < k; ++q) {
        p.want[i * n + j] += double(p.a[i * k + q]) * p.b[q * n + j];
        p.scale[i * n + j] += std::fabs(double(p.a[i * k + q]) * p.b[q * n + j]);
      }
  return p;
}

template <int Kept>
std::vector<float> run_tiled(const Problem& p, std::uint64_t seed) {
  const Stream s(Kind::emu, vae::emu::Options{seed, 1});
  const auto a = vae::device::to_device(s, p.a), b = vae::device::to_device(s, p.b);
  Array<float> c(Kind::emu, std::size_t(p.m) * p.n);
  const LaunchConfig config{dim3(unsigned(p.n + 15) / 16, unsigned(p.m + 15) / 16), dim3(16, 16)};
  VAE_LAUNCH((tiled_gemm<Kept>), s, config, a.data(), b.data(), c.data(), p.m, p.n, p.k);
  return vae::device::to_host(s, c);
}

// Within fp32 rounding of the double result (a generous 1e-4 of Σ|a·b|: a race is O(1)).
bool matches(const Problem& p, const std::vector<float>& c) {
  for (std::size_t i = 0; i < c.size(); ++i)
    if (!(std::fabs(c[i] - p.want[i]) <= 1e-4 * p.scale[i] + 1e-30)) return false;
  return true;
}

constexpr std::uint64_t kSeeds[] = {1, 2, 3, 4, 5, 6};

template <int Kept>
int seeds_caught(const Problem& p) {
  int caught = 0;
  const std::vector<float> first = run_tiled<Kept>(p, kSeeds[0]);
  for (std::uint64_t seed : kSeeds) {
    const std::vector<float> c = run_tiled<Kept>(p, seed);
    caught += !matches(p, c) || c != first;
  }
  return caught;
}

// --- Tests ------------------------------------------------------------------------------------
TEST(GemmProof, TiledGemmWithBothBarriersIsRightUnderEverySeed) {
  const Problem p = problem(37, 29, 53);
  EXPECT_EQ(seeds_caught<kBoth>(p), 0);
}

TEST(GemmProof, MissingBarrierAfterTileLoadsIsCaught) {
  const Problem p = problem(37, 29, 53);
  const int caught = seeds_caught<kNoneAfterLoads>(p);
  EXPECT_GT(caught, 0) << "a read-before-write race on the tiles went unnoticed";
  std::cout << "caught under " << caught << " of " << std::size(kSeeds) << " thread orders\n";
}

TEST(GemmProof, MissingBarrierBeforeNextTileLoadsIsCaught) {
  const Problem p = problem(37, 29, 53);
  const int caught = seeds_caught<kNoneAfterCompute>(p);
  EXPECT_GT(caught, 0) << "a write-after-read race on the tiles went unnoticed";
  std::cout << "caught under " << caught << " of " << std::size(kSeeds) << " thread orders\n";
}

TEST(GemmProof, BarrierAfterEarlyReturnIsANamedError) {
  const Problem p = problem(20, 20, 20);  // the edge blocks have threads outside C
  const Stream s(Kind::emu);
  const auto a = vae::device::to_device(s, p.a), b = vae::device::to_device(s, p.b);
  Array<float> c(Kind::emu, std::size_t(p.m) * p.n);
  const LaunchConfig config{dim3(2, 2), dim3(16, 16)};
  try {
    VAE_LAUNCH(tiled_gemm_early_return, s, config, a.data(), b.data(), c.data(), p.m, p.n, p.k);
    FAIL() << "a barrier that returned threads never reach was not reported";
  } catch (const vae::emu::KernelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("__syncthreads()"), std::string::npos) << what;
    EXPECT_NE(what.find("tiled_gemm_early_return"), std::string::npos) << what;
  }
}

#if defined(__SANITIZE_ADDRESS__)
// A tile staged in dynamic shared memory, one element too many written.
__global__ void dynamic_tile_overrun(const float* in, float* out, int count) {
  float* tile = vae::kernels::dynamic_shared<float>(std::size_t(count));
  const int t = int(threadIdx.x);
  tile[t + 1] = in[t];  // thread count-1 writes tile[count]
  __syncthreads();
  out[t] = tile[t];
}

// The same with a static __shared__ array.
__global__ void static_tile_overrun(const float* in, float* out) {
  VAE_SHARED(tile, float[64]);
  const int t = int(threadIdx.x);
  tile[t + 1] = in[t];  // thread 63 writes tile[64]
  __syncthreads();
  out[t] = tile[t];
}

void overrun_dynamic() {
  const Stream s(Kind::emu, vae::emu::Options{1, 1});
  const auto in = vae::device::to_device(s, std::vector<float>(64, 1.0f));
  Array<float> out(Kind::emu, 64);
  VAE_LAUNCH(dynamic_tile_overrun, s, (LaunchConfig{dim3(1), dim3(64), 64 * sizeof(float)}), in.data(), out.data(), 64);
}
void overrun_static() {
  const Stream s(Kind::emu, vae::emu::Options{1, 1});
  const auto in = vae::device::to_device(s, std::vector<float>(64, 1.0f));
  Array<float> out(Kind::emu, 64);
  VAE_LAUNCH(static_tile_overrun, s, (LaunchConfig{dim3(1), dim3(64)}), in.data(), out.data());
}
#endif

TEST(GemmProofDeathTest, WriteOnePastDynamicSharedMemoryIsCaught) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overrun_dynamic(), "heap-buffer-overflow");
#else
  GTEST_SKIP() << "needs the AddressSanitizer build (./scripts/test --sanitize): only ASan sees the write";
#endif
}

TEST(GemmProofDeathTest, WriteOnePastStaticSharedArrayIsCaught) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overrun_static(), "index 64 out of bounds for type .float \\[64\\]");
#else
  GTEST_SKIP() << "needs the sanitizer build (./scripts/test --sanitize): only UBSan's bounds check sees the write";
#endif
}

}  // namespace
