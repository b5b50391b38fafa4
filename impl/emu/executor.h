#pragma once
// The CPU executor: runs the threads of a CUDA kernel on the host with CUDA's semantics, so
// that the kernel sources nvcc compiles for the GPU are also compiled by the host compiler
// (impl/emu/cuda_emu.h supplies the language) and validated here, on every test run.
//
// Model:
//   - Every thread of a block is a fiber (Boost.Context, user-space switching: ~20 ns a
//     switch against ~1 us for glibc's swapcontext, which makes a syscall) with its own
//     stack, so locals are per-thread registers. A block runs on one host thread; blocks
//     run in parallel on a pool of host threads (EmuOptions::workers).
//   - __shared__ variables are thread_local to the host thread running the block, so the
//     fibers of one block share them and no other block (on another host thread, or later
//     on this one) sees them while the block runs. Dynamic shared memory is a heap block of
//     exactly the launch's size (ASan sees overflows), filled with 0xff bytes (NaN as float)
//     at every block start so that reading what no thread wrote shows in the results.
//   - __syncthreads() is a real barrier. Between two barriers, the threads of a block run
//     one after another, each until it reaches a barrier, a warp collective or its end, in
//     an order drawn from the thread-order seed (a permutation per block and phase). A
//     missing barrier or a race on shared memory therefore changes results with the seed;
//     a race-free kernel that reduces in a fixed order gives bitwise-identical results for
//     every seed.
//   - Warp collectives (shuffles, votes, __syncwarp, wmma::mma_sync) wait until every lane
//     named by the mask has arrived at a collective with the same mask and operation, then
//     exchange values.
//   - Misuse is a KernelError naming kernel, launch site, block and thread: a barrier that
//     some thread of the block exits without reaching, a collective whose mask names a lane
//     that never arrives or does not exist, mismatched masks, a dynamic shared-memory request
//     over the launch's size, a grid or block over CUDA's limits.
//   - In the AddressSanitizer build every fiber switch is announced to ASan, which then
//     checks each global and shared memory access of our kernels (a CPU stand-in for
//     compute-sanitizer memcheck); UBSan's bounds check catches indexing past a static
//     __shared__ array.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "common/error.h"

namespace vae::emu {

struct Uint3 {
  unsigned x = 0, y = 0, z = 0;
};

// CUDA's dim3: unspecified components are 1.
struct Dim3 {
  unsigned x, y, z;
  constexpr Dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr unsigned long long volume() const { return 1ull * x * y * z; }
};

// A kernel that breaks CUDA's rules, found by the executor (or a launch over the limits).
class KernelError : public vae::Error {
 public:
  using vae::Error::Error;
};

// How the executor schedules. The seed decides the thread order within every block and
// phase; workers = 0 means one host thread per core.
struct Options {
  uint64_t thread_order_seed = 0x5eedull;
  unsigned workers = 0;
  // The defaults, with VAE_EMU_SEED (thread order) and VAE_EMU_WORKERS taken from the
  // environment when set: how a whole program (vaebench validate, a backend's tests) is run
  // under another thread order without an option of its own. A malformed value throws.
  static Options from_environment();
};

// One launch as the executor sees it.
struct GridLaunch {
  Dim3 grid, block;
  std::size_t dynamic_shared_bytes = 0;
  // The kernel's static shared memory when the launcher knows it (the GPU build asks CUDA);
  // the executor adds each VAE_SHARED declaration's size as a block runs it.
  std::size_t static_shared_bytes = 0;
  const char* kernel = "kernel";  // for messages
  const char* file = "";          // the launch site
  int line = 0;
};

// CUDA's limits (compute capability 8.0 and 9.0 agree on these).
inline constexpr unsigned kMaxThreadsPerBlock = 1024;
inline constexpr Dim3 kMaxBlock{1024, 1024, 64};
inline constexpr Dim3 kMaxGrid{2147483647u, 65535, 65535};
// Shared memory per block: static alone at most 48 KB (every architecture), static + dynamic at
// most 227 KB (sm_90's opt-in maximum; over 48 KB in all needs cudaFuncAttributeMaxDynamicSharedMemorySize).
inline constexpr std::size_t kMaxStaticSharedBytes = 48 * 1024;
inline constexpr std::size_t kMaxSharedBytesPerBlock = 227 * 1024;
inline constexpr std::size_t kSharedBytesWithoutOptIn = 48 * 1024;
inline constexpr unsigned kWarpSize = 32;

// Throws KernelError if the launch is over CUDA's limits. Used by both executors' launch path.
void check_launch_limits(const GridLaunch& launch);

// Runs thread_body once for every thread of every block of the grid and returns when all
// have finished; rethrows the first error (a KernelError, or what a thread threw).
void run_grid(const GridLaunch& launch, const Options& options, const std::function<void()>& thread_body);

// --- What a running thread sees (used by cuda_emu.h) ------------------------------------
struct WarpArrival;  // a lane waiting at a warp collective

// The per-thread state the CUDA built-ins read. Valid only inside run_grid's thread_body.
struct ThreadContext {
  Uint3 thread_idx, block_idx;
  Dim3 block_dim, grid_dim;
  unsigned linear = 0;  // thread index within the block, x fastest
  unsigned lane = 0;    // linear % 32
  unsigned warp = 0;    // linear / 32
};

namespace detail {
// __thread, not thread_local: a plain TLS slot with no C++ init wrapper (GCC's wrapper path
// misread it under UBSan inside fibers).
extern __thread ThreadContext* current_thread;
}

inline const ThreadContext& this_thread() { return *detail::current_thread; }

// __syncthreads(): waits until every thread of the block has arrived.
void syncthreads();

// A warp collective: waits for every lane named in mask (which must include this lane) to
// arrive at a collective of the same name and mask, then returns the values the lanes
// deposited, indexed by lane (lanes outside the mask read 0). combine, if given, runs once
// when the last lane arrives, on every arriving lane's deposited value (for wmma::mma_sync,
// which computes with all lanes' fragments); it must be the same for every lane.
using WarpCombine = void (*)(const uint64_t* values_by_lane, unsigned mask);
const uint64_t* warp_collective(unsigned mask, const char* name, uint64_t value, WarpCombine combine = nullptr);

// Dynamic shared memory of the running block; throws KernelError (naming the kernel) if
// bytes exceed what the launch gave.
void* dynamic_shared(std::size_t bytes);

// A VAE_SHARED declaration of the running block (its first thread to reach it counts it):
// throws KernelError (naming the kernel) when the block's static shared memory goes over 48 KB,
// or static + dynamic over 227 KB.
void note_static_shared(const void* variable, std::size_t bytes);

// The kernel and launch site of the running thread, for messages.
std::string describe_current_thread();

}  // namespace vae::emu
