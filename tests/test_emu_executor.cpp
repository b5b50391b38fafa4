// The CPU executor (impl/emu) and the device layer's CPU side: CUDA's semantics, and that
// the executor catches what it exists to catch. The kernels below are CUDA C++, compiled
// here by the host compiler through kernels/kernel_lang.h, as our kernel families are.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>
#include <vector>

#include "device/device.h"
#include "kernels/launch.h"

using vae::device::Array;
using vae::device::Kind;
using vae::device::Stream;
using vae::emu::KernelError;
using vae::kernels::LaunchConfig;

namespace {

// --- Kernels ---------------------------------------------------------------------------------
// Tree sum of one block's values in shared memory; `careful` = false drops the barrier
// between the loads and the first tree step (a classic race).
__global__ void block_sum(const float* in, float* out, int n, bool careful) {
  VAE_SHARED(partial, float[256]);
  const unsigned t = threadIdx.x;
  partial[t] = t < unsigned(n) ? in[blockIdx.x * blockDim.x + t] : 0.0f;
  if (careful) __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// Each thread takes a ticket: the order threads ran in.
__global__ void record_order(unsigned* order) {
  VAE_SHARED(next, unsigned);
  if (threadIdx.x == 0) next = 0;
  __syncthreads();
  const unsigned ticket = atomicAdd(&next, 1u);
  order[blockIdx.x * blockDim.x + ticket] = threadIdx.x;
}

__global__ void early_exit_before_barrier(float* out) {
  if (threadIdx.x >= 16) return;  // threads 16.. never reach the barrier
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void warp_ops(const int* in, int* out) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const unsigned lanes = min(32u, blockDim.x - warp * 32);  // a power of two here
  const unsigned full = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
  const int v = in[threadIdx.x];
  int sum = v;
  for (int offset = int(lanes / 2); offset > 0; offset /= 2) sum += __shfl_xor_sync(full, sum, offset);
  int* o = out + threadIdx.x * 6;
  o[0] = sum;                                          // warp sum (butterfly)
  o[1] = __shfl_sync(full, v, 3);                      // lane 3's value
  o[2] = __shfl_down_sync(full, v, 1, 16);             // next lane's in 16-lane segments
  o[3] = __shfl_up_sync(full, v, 2);                   // two lanes back (own at the start)
  o[4] = int(__ballot_sync(full, v % 2 == 0));         // even values
  o[5] = __any_sync(full, v > 100) * 10 + __all_sync(full, v >= 0);
  (void)lane;
}

__global__ void shuffle_missing_lane(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

__global__ void shuffle_mismatched_masks(int* out) {
  const unsigned mask = threadIdx.x < 16 ? 0x0000ffffu : 0xffffffffu;
  out[threadIdx.x] = __shfl_xor_sync(mask, int(threadIdx.x), 1);
}

__global__ void full_mask_in_small_block(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

__global__ void uses_dynamic_shared(float* out, int count) {
  float* s = vae::kernels::dynamic_shared<float>(count);
  s[threadIdx.x] = float(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

// 40 KB of static shared memory (under the 48 KB a block may declare) beside `count` floats of
// dynamic shared memory.
__global__ void uses_static_and_dynamic_shared(float* out, int count) {
  VAE_SHARED(fixed, float[10 * 1024]);
  float* dynamic = vae::kernels::dynamic_shared<float>(size_t(count));
  fixed[threadIdx.x] = 1.0f;
  dynamic[threadIdx.x] = 2.0f;
  __syncthreads();
  out[threadIdx.x] = fixed[threadIdx.x] + dynamic[threadIdx.x];
}

// Two declarations, 32 KB and 24 KB: 56 KB of static shared memory, over the 48 KB.
__global__ void uses_too_much_static_shared(float* out) {
  VAE_SHARED(first, float[8 * 1024]);
  VAE_SHARED(second, float[6 * 1024]);
  first[threadIdx.x] = 1.0f;
  second[threadIdx.x] = 2.0f;
  out[threadIdx.x] = first[threadIdx.x] + second[threadIdx.x];
}

__global__ void shared_is_per_block(unsigned* out) {
  VAE_SHARED(mine, unsigned);
  if (threadIdx.x == 0) mine = blockIdx.x;
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = mine;
  __syncthreads();  // nobody overwrites `mine` before everyone has read it
}

__global__ void grid_indices(unsigned* out) {
  const unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[bx * blockDim.x * blockDim.y * blockDim.z + tx] = bx * 10000 + tx;
}

__global__ void add_one(float* x, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += 1.0f;
}

__global__ void write_past_the_end(float* x, int n) {
  if (threadIdx.x == 0) x[n] = 1.0f;
}

__global__ void wmma_tile(const float* a, const float* b, float* c) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int k = 0; k < 16; k += 8) {
    wmma::load_matrix_sync(fa, a + k, 16);  // A is 16x16 row-major
    wmma::load_matrix_sync(fb, b + k, 16);  // B^T is 16x16 row-major = B col-major
    for (int e = 0; e < fa.num_elements; ++e) fa.x[e] = wmma::__float_to_tf32(fa.x[e]);
    for (int e = 0; e < fb.num_elements; ++e) fb.x[e] = wmma::__float_to_tf32(fb.x[e]);
    wmma::mma_sync(acc, fa, fb, acc);
  }
  wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}

// A 16x16x16 product on bf16 tensor cores: the operands converted to bf16 in shared memory first
// (a wmma bf16 load reads __nv_bfloat16 memory), as the GEMM and conv v6/v5 do.
__global__ void wmma_bf16_tile(const float* a, const float* b, float* c, unsigned ldm) {
  using namespace nvcuda;
  struct alignas(32) Tiles {
    __nv_bfloat16 a[16 * 24], b[16 * 24];  // ldm up to 24
  };
  VAE_SHARED(t, Tiles);
  for (int e = int(threadIdx.x); e < 256; e += 32) {
    t.a[e / 16 * ldm + e % 16] = __float2bfloat16(a[e]);
    t.b[e / 16 * ldm + e % 16] = __float2bfloat16(b[e]);
  }
  __syncwarp();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  wmma::load_matrix_sync(fa, t.a, ldm);
  wmma::load_matrix_sync(fb, t.b, ldm);  // B^T row-major = B col-major
  wmma::mma_sync(acc, fa, fb, acc);
  wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}

// --- Helpers -----------------------------------------------------------------------------------
Stream emu_stream(uint64_t seed, unsigned workers = 0) { return Stream(Kind::emu, vae::emu::Options{seed, workers}); }

std::vector<float> random_values(int n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = float(int(s >> 40) % 2001 - 1000) / 997.0f;
  }
  return v;
}

std::vector<float> block_sums(const Stream& stream, const std::vector<float>& in, int blocks, bool careful) {
  Array<float> d_in = vae::device::to_device(stream, in);
  Array<float> d_out(Kind::emu, size_t(blocks));
  VAE_LAUNCH(block_sum, stream, (LaunchConfig{dim3(unsigned(blocks)), dim3(256)}), d_in.data(), d_out.data(), 256, careful);
  return vae::device::to_host(stream, d_out);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const KernelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// --- Barriers and thread order -----------------------------------------------------------------
TEST(EmuExecutor, RaceFreeReductionIsBitwiseIdenticalUnderEverySeedAndWorkerCount) {
  const std::vector<float> in = random_values(64 * 256, 7);
  const std::vector<float> first = block_sums(emu_stream(1, 1), in, 64, true);
  for (uint64_t seed : {2ull, 3ull, 99ull, 12345ull})
    for (unsigned workers : {1u, 2u, 4u}) {
      const std::vector<float> again = block_sums(emu_stream(seed, workers), in, 64, true);
      ASSERT_EQ(0, std::memcmp(first.data(), again.data(), first.size() * sizeof(float)))
          << "seed " << seed << ", workers " << workers;
    }
  // And the sums are right (double sums of fp32 inputs, to fp32 rounding).
  for (int b = 0; b < 64; ++b) {
    double want = 0;
    for (int i = 0; i < 256; ++i) want += in[size_t(b * 256 + i)];
    EXPECT_NEAR(first[size_t(b)], want, 1e-4) << "block " << b;
  }
}

TEST(EmuExecutor, MissingBarrierChangesTheResultUnderSomeSeed) {
  const std::vector<float> in = random_values(8 * 256, 11);
  const std::vector<float> right = block_sums(emu_stream(1), in, 8, true);
  int caught = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed)
    if (block_sums(emu_stream(seed), in, 8, false) != right) ++caught;
  EXPECT_GT(caught, 0) << "dropping the barrier after the shared-memory loads went unnoticed under 4 seeds";
}

TEST(EmuExecutor, ThreadOrderIsASeededPermutation) {
  const unsigned threads = 128;
  std::set<std::vector<unsigned>> orders;
  for (uint64_t seed : {1ull, 2ull, 3ull, 1ull}) {
    const Stream s = emu_stream(seed, 1);
    Array<unsigned> order(Kind::emu, threads);
    VAE_LAUNCH(record_order, s, (LaunchConfig{dim3(1), dim3(threads)}), order.data());
    std::vector<unsigned> got = vae::device::to_host(s, order);
    std::vector<unsigned> sorted = got;
    std::sort(sorted.begin(), sorted.end());
    for (unsigned i = 0; i < threads; ++i) ASSERT_EQ(sorted[i], i) << "not a permutation under seed " << seed;
    std::vector<unsigned> identity(threads);
    std::iota(identity.begin(), identity.end(), 0u);
    EXPECT_NE(got, identity) << "seed " << seed << " ran the threads in index order";
    orders.insert(got);
  }
  EXPECT_EQ(orders.size(), 3u) << "three seeds should give three orders, the repeated seed the same one";
}

TEST(EmuExecutor, BarrierNotReachedByEveryThreadIsANamedError) {
  const Stream s = emu_stream(1);
  Array<float> out(Kind::emu, 64);
  const std::string what =
      error_of([&] { VAE_LAUNCH(early_exit_before_barrier, s, (LaunchConfig{dim3(2), dim3(64)}), out.data()); });
  EXPECT_NE(what.find("__syncthreads() is reached by 16 of 64 threads"), std::string::npos) << what;
  EXPECT_NE(what.find("early_exit_before_barrier"), std::string::npos) << what;
  EXPECT_NE(what.find("test_emu_executor.cpp"), std::string::npos) << "names the launch site: " << what;
  // The executor is usable again after the error.
  const std::vector<float> in = random_values(256, 3);
  EXPECT_EQ(block_sums(s, in, 1, true), block_sums(emu_stream(5), in, 1, true));
}

// --- Warp collectives ---------------------------------------------------------------------------
TEST(EmuExecutor, WarpShufflesAndVotesFollowCuda) {
  for (unsigned threads : {64u, 48u}) {  // 48: the second warp has 16 lanes
    const Stream s = emu_stream(threads);
    std::vector<int> in(threads);
    for (unsigned i = 0; i < threads; ++i) in[i] = int(i * 7 % 23) + (i == 40 ? 200 : 0);
    Array<int> d_in = vae::device::to_device(s, in);
    Array<int> d_out(Kind::emu, threads * 6);
    VAE_LAUNCH(warp_ops, s, (LaunchConfig{dim3(1), dim3(threads)}), d_in.data(), d_out.data());
    const std::vector<int> out = vae::device::to_host(s, d_out);
    for (unsigned t = 0; t < threads; ++t) {
      const unsigned warp = t / 32, lane = t % 32, base = warp * 32, lanes = std::min(32u, threads - base);
      int sum = 0, any = 0, all = 1;
      unsigned even = 0;
      for (unsigned l = 0; l < lanes; ++l) {
        sum += in[base + l];
        if (in[base + l] % 2 == 0) even |= 1u << l;
        any |= in[base + l] > 100;
        all &= in[base + l] >= 0;
      }
      const int* o = &out[t * 6];
      EXPECT_EQ(o[0], sum) << "thread " << t;
      EXPECT_EQ(o[1], in[base + 3]) << "thread " << t;
      EXPECT_EQ(o[2], lane % 16 + 1 < 16 ? in[t + 1] : in[t]) << "thread " << t;
      EXPECT_EQ(o[3], lane >= 2 ? in[t - 2] : in[t]) << "thread " << t;
      EXPECT_EQ(unsigned(o[4]), even) << "thread " << t;
      EXPECT_EQ(o[5], any * 10 + all) << "thread " << t;
    }
  }
}

TEST(EmuExecutor, WarpCollectiveMisuseIsANamedError) {
  const Stream s = emu_stream(1);
  Array<int> out(Kind::emu, 32);
  std::string what = error_of([&] { VAE_LAUNCH(shuffle_missing_lane, s, (LaunchConfig{dim3(1), dim3(32)}), out.data()); });
  EXPECT_NE(what.find("waits for lane 5, which exited"), std::string::npos) << what;
  what = error_of([&] { VAE_LAUNCH(shuffle_mismatched_masks, s, (LaunchConfig{dim3(1), dim3(32)}), out.data()); });
  EXPECT_NE(what.find("must call the same operation with the same mask"), std::string::npos) << what;
  what = error_of([&] { VAE_LAUNCH(full_mask_in_small_block, s, (LaunchConfig{dim3(1), dim3(16)}), out.data()); });
  EXPECT_NE(what.find("names lane 16 and up"), std::string::npos) << what;
}

// --- Memory -----------------------------------------------------------------------------------
TEST(EmuExecutor, DynamicSharedMemoryIsCheckedAgainstTheLaunch) {
  const Stream s = emu_stream(4);
  Array<float> out(Kind::emu, 64);
  VAE_LAUNCH(uses_dynamic_shared, s, (LaunchConfig{dim3(1), dim3(64), 64 * sizeof(float)}), out.data(), 64);
  const std::vector<float> got = vae::device::to_host(s, out);
  for (int t = 0; t < 64; ++t) EXPECT_EQ(got[size_t(t)], float(63 - t));
  const std::string what = error_of(
      [&] { VAE_LAUNCH(uses_dynamic_shared, s, (LaunchConfig{dim3(1), dim3(64), 32 * sizeof(float)}), out.data(), 64); });
  EXPECT_NE(what.find("asks for 256 bytes of dynamic shared memory, but the launch gave 128"), std::string::npos) << what;
}

// CUDA's limits are on a block's static + dynamic shared memory (227 KB on sm_90), and on the
// static part alone (48 KB): the executor counts each VAE_SHARED declaration against both.
TEST(EmuExecutor, StaticAndDynamicSharedMemoryAreCheckedTogether) {
  const Stream s = emu_stream(4);
  Array<float> out(Kind::emu, 64);
  const std::size_t fits = 180 * 1024, too_much = 200 * 1024;  // beside 40 KB static: 220 KB and 240 KB
  VAE_LAUNCH(uses_static_and_dynamic_shared, s, (LaunchConfig{dim3(2), dim3(64), fits}), out.data(), 64);
  for (float v : vae::device::to_host(s, out)) ASSERT_EQ(v, 3.0f);
  std::string what = error_of([&] {
    VAE_LAUNCH(uses_static_and_dynamic_shared, s, (LaunchConfig{dim3(2), dim3(64), too_much}), out.data(), 64);
  });
  EXPECT_NE(what.find("uses_static_and_dynamic_shared"), std::string::npos) << what;
  EXPECT_NE(what.find("40960 bytes of static + 204800 bytes of dynamic shared memory is over the 232448"),
            std::string::npos) << what;
  what = error_of([&] { VAE_LAUNCH(uses_too_much_static_shared, s, (LaunchConfig{dim3(1), dim3(64)}), out.data()); });
  EXPECT_NE(what.find("57344 bytes of static shared memory is over the 49152 a block can have"), std::string::npos)
      << what;
  // The launch check the GPU build makes with CUDA's figure of the static part.
  vae::emu::GridLaunch launch;
  launch.kernel = "a kernel with 40 KB static";
  launch.static_shared_bytes = 40 * 1024;
  launch.dynamic_shared_bytes = too_much;
  what = error_of([&] { vae::emu::check_launch_limits(launch); });
  EXPECT_NE(what.find("40960 bytes of static + 204800 bytes of dynamic"), std::string::npos) << what;
  launch.dynamic_shared_bytes = fits;
  EXPECT_EQ(error_of([&] { vae::emu::check_launch_limits(launch); }), "");
}

TEST(EmuExecutor, SharedMemoryBelongsToOneBlock) {
  const unsigned blocks = 64, threads = 96;
  const Stream s = emu_stream(8, 2);
  Array<unsigned> out(Kind::emu, blocks * threads);
  VAE_LAUNCH(shared_is_per_block, s, (LaunchConfig{dim3(blocks), dim3(threads)}), out.data());
  const std::vector<unsigned> got = vae::device::to_host(s, out);
  for (unsigned i = 0; i < blocks * threads; ++i) ASSERT_EQ(got[i], i / threads) << "thread " << i;
}

TEST(EmuExecutor, ThreeDimensionalGridsAndBlocks) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const unsigned total = 12 * 24;
  const Stream s = emu_stream(2);
  Array<unsigned> out(Kind::emu, total);
  VAE_LAUNCH(grid_indices, s, (LaunchConfig{grid, block}), out.data());
  const std::vector<unsigned> got = vae::device::to_host(s, out);
  for (unsigned i = 0; i < total; ++i) EXPECT_EQ(got[i], (i / 24) * 10000 + i % 24);
}

TEST(EmuExecutor, LaunchesOverCudaLimitsAreNamedErrors) {
  const Stream s = emu_stream(1);
  Array<float> x(Kind::emu, 4);
  std::string what = error_of([&] { VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(1), dim3(2048)}), x.data(), 4); });
  EXPECT_NE(what.find("block (2048,1,1) is over CUDA's limits"), std::string::npos) << what;
  what = error_of([&] { VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(1, 70000), dim3(32)}), x.data(), 4); });
  EXPECT_NE(what.find("grid (1,70000,1) is over CUDA's limits"), std::string::npos) << what;
  what = error_of([&] { VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(1), dim3(32), 300 * 1024}), x.data(), 4); });
  EXPECT_NE(what.find("bytes of dynamic shared memory is over"), std::string::npos) << what;
  what = error_of([&] { VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(0), dim3(32)}), x.data(), 4); });
  EXPECT_NE(what.find("zero dimension"), std::string::npos) << what;
}

#if defined(__SANITIZE_ADDRESS__)
TEST(EmuExecutorDeathTest, GlobalWritePastTheEndIsCaughtByAddressSanitizer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        const Stream s = emu_stream(1, 1);
        Array<float> x(Kind::emu, 10);
        VAE_LAUNCH(write_past_the_end, s, (LaunchConfig{dim3(1), dim3(32)}), x.data(), 10);
      },
      "heap-buffer-overflow");
}
#else
TEST(EmuExecutorDeathTest, GlobalWritePastTheEndIsCaughtByAddressSanitizer) {
  GTEST_SKIP() << "needs the AddressSanitizer build (./scripts/test --sanitize)";
}
#endif

// --- Tensor cores -------------------------------------------------------------------------------
TEST(EmuExecutor, Tf32ConversionRoundsToNearestTiesAway) {
  using nvcuda::wmma::__float_to_tf32;
  const auto bits = [](float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; };
  const auto from = [](uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; };
  EXPECT_EQ(bits(__float_to_tf32(from(0x3f800fffu))), 0x3f800000u);  // below half: down
  EXPECT_EQ(bits(__float_to_tf32(from(0x3f801000u))), 0x3f802000u);  // a tie: away from zero
  EXPECT_EQ(bits(__float_to_tf32(from(0xbf801000u))), 0xbf802000u);  // negative tie: away too
  EXPECT_EQ(bits(__float_to_tf32(from(0x3f801001u))), 0x3f802000u);  // above half: up
  EXPECT_EQ(bits(__float_to_tf32(from(0x7f800000u))), 0x7f800000u);  // Inf stays
  EXPECT_TRUE(std::isnan(__float_to_tf32(std::nanf(""))));
}

TEST(EmuExecutor, WmmaTileProductMatchesTf32Arithmetic) {
  const Stream s = emu_stream(6);
  const std::vector<float> a = random_values(256, 21), bt = random_values(256, 22);
  Array<float> da = vae::device::to_device(s, a), db = vae::device::to_device(s, bt), dc(Kind::emu, 256);
  VAE_LAUNCH(wmma_tile, s, (LaunchConfig{dim3(1), dim3(32)}), da.data(), db.data(), dc.data());
  const std::vector<float> c = vae::device::to_host(s, dc);
  double worst_tf32 = 0, worst_exact = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double tf32 = 0, exact = 0;
      for (int k = 0; k < 16; ++k) {
        tf32 += double(nvcuda::wmma::__float_to_tf32(a[size_t(i * 16 + k)])) *
                double(nvcuda::wmma::__float_to_tf32(bt[size_t(j * 16 + k)]));
        exact += double(a[size_t(i * 16 + k)]) * double(bt[size_t(j * 16 + k)]);
      }
      worst_tf32 = std::max(worst_tf32, std::abs(c[size_t(i * 16 + j)] - tf32));
      worst_exact = std::max(worst_exact, std::abs(c[size_t(i * 16 + j)] - exact));
    }
  EXPECT_LT(worst_tf32, 1e-5) << "against the same product of tf32-rounded inputs: only fp32 sums differ";
  EXPECT_GT(worst_exact, 1e-4) << "the inputs were not rounded to tf32";
}

TEST(EmuExecutor, Bf16ConversionRoundsToNearestEven) {
  const auto from = [](uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; };
  const auto bits = [&](uint32_t f) { return __float2bfloat16(from(f)).bits; };
  EXPECT_EQ(bits(0x3f807fffu), 0x3f80u);  // below half: down
  EXPECT_EQ(bits(0x3f808000u), 0x3f80u);  // a tie, even below: down
  EXPECT_EQ(bits(0x3f818000u), 0x3f82u);  // a tie, odd below: up to even
  EXPECT_EQ(bits(0xbf818000u), 0xbf82u);  // negative tie: to even as well
  EXPECT_EQ(bits(0x3f808001u), 0x3f81u);  // above half: up
  EXPECT_EQ(bits(0x7f7fffffu), 0x7f80u);  // the largest float rounds to Inf, as cvt.rn does
  EXPECT_EQ(bits(0xff800000u), 0xff80u);  // -Inf stays
  EXPECT_TRUE(std::isnan(__bfloat162float(__float2bfloat16(std::nanf("")))));
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.5f)), 1.5f);  // exact values are kept
}

TEST(EmuExecutor, WmmaBf16TileProductMatchesBf16Arithmetic) {
  const Stream s = emu_stream(7);
  const std::vector<float> a = random_values(256, 31), bt = random_values(256, 32);
  Array<float> da = vae::device::to_device(s, a), db = vae::device::to_device(s, bt), dc(Kind::emu, 256);
  VAE_LAUNCH(wmma_bf16_tile, s, (LaunchConfig{dim3(1), dim3(32)}), da.data(), db.data(), dc.data(), 16u);
  const std::vector<float> c = vae::device::to_host(s, dc);
  const auto bf16 = [](float x) { return double(__bfloat162float(__float2bfloat16(x))); };
  double worst_bf16 = 0, worst_exact = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double rounded = 0, exact = 0;
      for (int k = 0; k < 16; ++k) {
        rounded += bf16(a[size_t(i * 16 + k)]) * bf16(bt[size_t(j * 16 + k)]);
        exact += double(a[size_t(i * 16 + k)]) * double(bt[size_t(j * 16 + k)]);
      }
      worst_bf16 = std::max(worst_bf16, std::abs(c[size_t(i * 16 + j)] - rounded));
      worst_exact = std::max(worst_exact, std::abs(c[size_t(i * 16 + j)] - exact));
    }
  EXPECT_LT(worst_bf16, 1e-5) << "against the same product of bf16-rounded inputs: only fp32 sums differ";
  EXPECT_GT(worst_exact, 1e-3) << "the inputs were not rounded to bf16";
}

TEST(EmuExecutor, WmmaBf16LoadWantsLdmOfWholeSixteenBytes) {
  const Stream s = emu_stream(8);
  const std::vector<float> a = random_values(256, 41);
  Array<float> da = vae::device::to_device(s, a), dc(Kind::emu, 256);
  // ldm 12 bf16 = 24 bytes: not a multiple of 16 bytes (8 bf16), undefined on a GPU.
  try {
    VAE_LAUNCH(wmma_bf16_tile, s, (LaunchConfig{dim3(1), dim3(32)}), da.data(), da.data(), dc.data(), 12u);
    FAIL() << "ldm 12 was accepted";
  } catch (const vae::emu::KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("not a multiple of 8 elements (16 bytes)"), std::string::npos) << e.what();
  }
}

// --- The device layer on the CPU executor ------------------------------------------------------
TEST(EmuDevice, CopiesMemsetAndEvents) {
  const Stream s = emu_stream(1);
  std::vector<float> host(100);
  std::iota(host.begin(), host.end(), 0.0f);
  Array<float> a = vae::device::to_device(s, host), b(Kind::emu, 100);
  vae::device::copy_on_device(s, b.data(), a.data(), a.bytes());
  vae::device::memset(s, a.data(), 0, 10 * sizeof(float));
  EXPECT_EQ(vae::device::to_host(s, b), host);
  std::vector<float> zeroed = host;
  std::fill(zeroed.begin(), zeroed.begin() + 10, 0.0f);
  EXPECT_EQ(vae::device::to_host(s, a), zeroed);
  vae::device::Event start(Kind::emu), stop(Kind::emu);
  start.record(s);
  VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(1), dim3(128)}), a.data(), 100);
  stop.record(s);
  stop.synchronize();
  EXPECT_GE(vae::device::Event::elapsed_ms(start, stop), 0.0);
}

TEST(EmuDevice, CapturedGraphRecordsInsteadOfRunningAndReplaysInOrder) {
  const Stream s = emu_stream(3);
  std::vector<float> host(50, 1.0f);
  Array<float> x = vae::device::to_device(s, host);
  vae::device::Graph::begin_capture(s);
  vae::device::memset(s, x.data(), 0, x.bytes());                                    // x = 0
  VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(2), dim3(32)}), x.data(), 50);          // x = 1
  VAE_LAUNCH(add_one, s, (LaunchConfig{dim3(2), dim3(32)}), x.data(), 50);          // x = 2
  const vae::device::Graph g = vae::device::Graph::end_capture(s);
  EXPECT_EQ(g.recorded_operations(), 3u);
  EXPECT_EQ(vae::device::to_host(s, x), host) << "capturing must not run the work";
  g.launch(s);
  g.launch(s);
  EXPECT_EQ(vae::device::to_host(s, x), std::vector<float>(50, 2.0f)) << "each replay: memset, then two launches";
}

TEST(EmuDevice, CudaIsRefusedWithAReasonWithoutAGpu) {
  std::string why;
  if (vae::device::cuda_usable(&why)) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(why.empty());
  EXPECT_THROW(Stream(Kind::cuda), vae::Error);
}
