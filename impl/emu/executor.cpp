// The CPU executor's scheduler: fibers per thread, barriers, warp collectives, the seeded
// thread order, and the pool of host threads that runs blocks in parallel (see executor.h).
#include "emu/executor.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define VAE_EMU_ASAN 1
#else
#define VAE_EMU_ASAN 0
#endif

namespace fctx = boost::context::detail;

namespace vae::emu {

namespace detail {
__thread ThreadContext* current_thread = nullptr;
}

namespace {

// Fiber stacks: kernels keep a few hundred bytes of registers; ASan's redzones need more.
constexpr std::size_t kStackBytes = VAE_EMU_ASAN ? 256 * 1024 : 64 * 1024;
// Stack tops at one offset modulo 64 KiB would all fall into the same cache sets, and every
// switch would miss (measured: ~500 ns a switch for a 1024-thread block). Each fiber's top
// is moved down by a colour: 64 cache lines times 16 pages. Mapped lazily, so the spare
// virtual memory costs nothing.
std::size_t stack_colour_bytes(std::size_t fiber) { return (fiber % 64) * 64 + (fiber / 64 % 16) * 4096; }
constexpr std::size_t kMappedStackBytes = kStackBytes + 16 * 4096;

std::string dims(Dim3 d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}
std::string dims(Uint3 d) { return dims(Dim3(d.x, d.y, d.z)); }
std::string hex(unsigned v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

std::string where(const GridLaunch& launch) {
  return std::string(launch.kernel) + " (launched at " + launch.file + ":" + std::to_string(launch.line) + ")";
}

// splitmix64: the thread order's random source.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

enum class State : uint8_t { ready, barrier, warp, done };

struct Worker;

struct Fiber {
  ThreadContext context;
  State state = State::done;
  fctx::fcontext_t resume_point = nullptr;  // where the fiber continues
  fctx::fcontext_t scheduler = nullptr;     // where it returns to, while it runs
  Worker* worker = nullptr;
  const std::function<void()>* body = nullptr;
  // The warp collective it waits at.
  unsigned mask = 0;
  const char* op = nullptr;
  uint64_t value = 0;
  WarpCombine combine = nullptr;
  uint64_t results[kWarpSize] = {};
  std::exception_ptr error;
  void* stack = nullptr;  // lowest usable address (above the guard page)
  void* asan_fake_stack = nullptr;
};

// One per host thread: its fibers and stacks, reused block after block.
struct Worker {
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<void*> mappings;  // each: guard page + stack
  std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
  bool stacks_dirty = false;    // an aborted block left frames (and ASan poison) behind
  const void* scheduler_stack_bottom = nullptr;
  std::size_t scheduler_stack_size = 0;
  Fiber* running = nullptr;
  const GridLaunch* launch = nullptr;
  std::unique_ptr<unsigned char[]> dynamic_shared;
  std::size_t dynamic_shared_bytes = 0;
  std::vector<const void*> static_shared_seen;  // the running block's VAE_SHARED variables so far
  std::size_t static_shared_bytes = 0;           // and their bytes, with the launch's own figure

  ~Worker() {
    for (void* m : mappings) munmap(m, kMappedStackBytes + page);
  }

  void ensure_fibers(unsigned n) {
    while (fibers.size() < n) {
      void* m = mmap(nullptr, kMappedStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) throw KernelError("CPU executor: cannot map a fiber stack of " + std::to_string(kStackBytes) + " bytes");
      mprotect(m, page, PROT_NONE);  // a stack overflow faults instead of corrupting a neighbour
      mappings.push_back(m);
      auto f = std::make_unique<Fiber>();
      f->stack = static_cast<char*>(m) + page + (kMappedStackBytes - kStackBytes) - stack_colour_bytes(fibers.size());
      f->worker = this;
      fibers.push_back(std::move(f));
    }
  }

  void run_block(const GridLaunch& launch, const Options& options, const std::function<void()>& body, uint64_t block_linear);

 private:
  void resume(Fiber& f);
  [[noreturn]] void fail(const std::string& what);
  void complete_warp_collectives(unsigned n, std::vector<Fiber*>& ready);
  [[noreturn]] void report_stuck_collective(unsigned n);
  Uint3 block_idx_{};
};

thread_local Worker* t_worker = nullptr;

Worker& this_worker() {
  thread_local Worker worker;
  t_worker = &worker;
  return worker;
}

void asan_start_switch(void** fake_stack_save, const void* bottom, std::size_t size) {
#if VAE_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}
void asan_finish_switch(void* fake_stack_save, const void** bottom_old, std::size_t* size_old) {
#if VAE_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
  (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

void fiber_entry(fctx::transfer_t t) {
  Fiber* f = static_cast<Fiber*>(t.data);
  f->scheduler = t.fctx;
  asan_finish_switch(nullptr, &f->worker->scheduler_stack_bottom, &f->worker->scheduler_stack_size);
  try {
    (*f->body)();
  } catch (...) {
    f->error = std::current_exception();
  }
  f->state = State::done;
  asan_start_switch(nullptr, f->worker->scheduler_stack_bottom, f->worker->scheduler_stack_size);  // this fiber ends
  fctx::jump_fcontext(f->scheduler, nullptr);
}

// From a fiber back to its scheduler, until the scheduler resumes it.
void yield_to_scheduler(Fiber& f) {
  Worker& w = *f.worker;
  asan_start_switch(&f.asan_fake_stack, w.scheduler_stack_bottom, w.scheduler_stack_size);
  const fctx::transfer_t t = fctx::jump_fcontext(f.scheduler, nullptr);
  f.scheduler = t.fctx;
  asan_finish_switch(f.asan_fake_stack, &w.scheduler_stack_bottom, &w.scheduler_stack_size);
}

void Worker::resume(Fiber& f) {
  running = &f;
  detail::current_thread = &f.context;
  void* fake_stack = nullptr;
  asan_start_switch(&fake_stack, f.stack, kStackBytes);
  const fctx::transfer_t t = fctx::jump_fcontext(f.resume_point, &f);
  asan_finish_switch(fake_stack, nullptr, nullptr);
  f.resume_point = t.fctx;
  detail::current_thread = nullptr;
  running = nullptr;
  if (f.error) {
    stacks_dirty = true;
    std::rethrow_exception(f.error);
  }
}

void Worker::fail(const std::string& what) {
  stacks_dirty = true;
  throw KernelError(where(*launch) + ", block " + dims(block_idx_) + ": " + what);
}

std::string thread_name(const Fiber& f) {
  return "thread " + dims(f.context.thread_idx) + " (warp " + std::to_string(f.context.warp) + ", lane " +
         std::to_string(f.context.lane) + ")";
}

void Worker::complete_warp_collectives(unsigned n, std::vector<Fiber*>& ready) {
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = *fibers[i];
    if (f.state != State::warp) continue;
    const unsigned base = f.context.warp * kWarpSize, lanes = std::min(kWarpSize, n - base);
    bool all_arrived = true;
    for (unsigned l = 0; l < lanes; ++l) {
      const Fiber& g = *fibers[base + l];
      if (g.state != State::warp) {
        if (f.mask >> l & 1u) all_arrived = false;
      } else if ((g.mask & f.mask) && (g.mask != f.mask || g.op != f.op || g.combine != f.combine)) {
        // Lanes in two overlapping collectives: neither can ever complete.
        fail(std::string(f.op) + " with mask " + hex(f.mask) + " by " + thread_name(f) + " meets " + g.op +
             " with mask " + hex(g.mask) + " by " + thread_name(g) + ": the lanes of a warp collective must "
             "call the same operation with the same mask");
      }
    }
    if (!all_arrived) continue;
    uint64_t values[kWarpSize] = {};
    for (unsigned l = 0; l < kWarpSize; ++l)
      if (f.mask >> l & 1u) values[l] = fibers[base + l]->value;
    if (f.combine) f.combine(values, f.mask);
    const unsigned mask = f.mask;
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (!(mask >> l & 1u)) continue;
      Fiber& g = *fibers[base + l];
      std::memcpy(g.results, values, sizeof values);
      g.state = State::ready;
      ready.push_back(&g);
    }
  }
}

void Worker::report_stuck_collective(unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    const Fiber& f = *fibers[i];
    if (f.state != State::warp) continue;
    const unsigned base = f.context.warp * kWarpSize;
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (!(f.mask >> l & 1u)) continue;
      const Fiber& g = *fibers[base + l];
      if (g.state == State::warp) continue;
      fail(std::string(f.op) + " with mask " + hex(f.mask) + " by " + thread_name(f) + " waits for lane " +
           std::to_string(l) + ", which " + (g.state == State::done ? "exited" : "waits at __syncthreads()") +
           " without arriving: a deadlock on a GPU");
    }
  }
  fail("warp collective stuck");  // unreachable: some lane must be missing
}

void Worker::run_block(const GridLaunch& grid, const Options& options, const std::function<void()>& body,
                       uint64_t block_linear) {
  launch = &grid;
  const unsigned n = unsigned(grid.block.volume());
  ensure_fibers(n);
  block_idx_ = Uint3{unsigned(block_linear % grid.grid.x), unsigned(block_linear / grid.grid.x % grid.grid.y),
                     unsigned(block_linear / (uint64_t(grid.grid.x) * grid.grid.y))};
  if (stacks_dirty) {  // frames of an aborted block: drop their ASan poison before reuse
#if VAE_EMU_ASAN
    for (auto& f : fibers) __asan_unpoison_memory_region(f->stack, kStackBytes);
#endif
    stacks_dirty = false;
  }
  if (grid.dynamic_shared_bytes != dynamic_shared_bytes) {
    dynamic_shared.reset(grid.dynamic_shared_bytes ? new unsigned char[grid.dynamic_shared_bytes] : nullptr);
    dynamic_shared_bytes = grid.dynamic_shared_bytes;
  }
  if (dynamic_shared_bytes) std::memset(dynamic_shared.get(), 0xff, dynamic_shared_bytes);
  static_shared_seen.clear();
  static_shared_bytes = grid.static_shared_bytes;

  std::vector<Fiber*> ready;
  ready.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = *fibers[i];
    ThreadContext& c = f.context;
    c.thread_idx = Uint3{i % grid.block.x, i / grid.block.x % grid.block.y, i / (grid.block.x * grid.block.y)};
    c.block_idx = block_idx_;
    c.block_dim = grid.block;
    c.grid_dim = grid.grid;
    c.linear = i;
    c.lane = i % kWarpSize;
    c.warp = i / kWarpSize;
    f.state = State::ready;
    f.body = &body;
    f.error = nullptr;
    f.asan_fake_stack = nullptr;
    f.resume_point = fctx::make_fcontext(static_cast<char*>(f.stack) + kStackBytes, kStackBytes, &fiber_entry);
    ready.push_back(&f);
  }

  uint64_t round = 0;
  const uint64_t block_seed = mix(options.thread_order_seed ^ mix(block_linear));
  for (;;) {
    // Run everything that can run, in this round's order, each until it blocks or ends.
    uint64_t r = mix(block_seed + ++round);
    for (std::size_t i = ready.size(); i > 1; --i) {
      r = mix(r);
      std::swap(ready[i - 1], ready[std::size_t((static_cast<unsigned __int128>(r) * i) >> 64)]);  // r mod i, no division
    }
    for (Fiber* f : ready) resume(*f);
    ready.clear();
    complete_warp_collectives(n, ready);
    if (!ready.empty()) continue;

    unsigned at_barrier = 0, done = 0;
    const Fiber* exited = nullptr;
    for (unsigned i = 0; i < n; ++i) {
      const State s = fibers[i]->state;
      if (s == State::warp) report_stuck_collective(n);
      if (s == State::barrier) ++at_barrier;
      if (s == State::done) {
        ++done;
        if (!exited) exited = fibers[i].get();
      }
    }
    if (at_barrier == 0) break;  // every thread has finished
    if (done > 0)
      fail("__syncthreads() is reached by " + std::to_string(at_barrier) + " of " + std::to_string(n) +
           " threads; " + thread_name(*exited) + " and " + std::to_string(done - 1) +
           " other(s) exited without reaching it (a hang or undefined behaviour on a GPU)");
    for (unsigned i = 0; i < n; ++i) {
      fibers[i]->state = State::ready;
      ready.push_back(fibers[i].get());
    }
  }
  launch = nullptr;
}

Fiber& running_fiber(const char* what) {
  Worker* w = t_worker;
  if (!w || !w->running) throw KernelError(std::string(what) + " called outside a kernel running on the CPU executor");
  return *w->running;
}

// --- The pool of host threads that run blocks ---------------------------------------------
struct Job {
  const GridLaunch* launch;
  const Options* options;
  const std::function<void()>* body;
  uint64_t blocks;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;

  void work() {
    Worker& w = this_worker();
    for (;;) {
      const uint64_t b = next.fetch_add(1, std::memory_order_relaxed);
      if (b >= blocks || failed.load(std::memory_order_relaxed)) return;
      try {
        w.run_block(*launch, *options, *body, b);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
        return;
      }
    }
  }
};

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Runs job.work() on the calling thread and helpers-1 pool threads; returns when all are done.
  void run(Job& job, unsigned helpers) {
    std::lock_guard<std::mutex> one_grid_at_a_time(launch_mutex_);
    while (threads_.size() + 1 < helpers) threads_.emplace_back([this] { serve(); });
    const unsigned extra = std::min<unsigned>(helpers - 1, unsigned(threads_.size()));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      wanted_ = extra;
      active_ = extra;
      ++generation_;
    }
    wake_.notify_all();
    job.work();
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return active_ == 0; });
    job_ = nullptr;
  }

 private:
  void serve() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && wanted_ > 0); });
      if (stopping_) return;
      seen = generation_;
      --wanted_;
      Job* job = job_;
      lock.unlock();
      job->work();
      lock.lock();
      if (--active_ == 0) finished_.notify_all();
    }
  }

  std::mutex launch_mutex_, mutex_;
  std::condition_variable wake_, finished_;
  std::vector<std::thread> threads_;
  Job* job_ = nullptr;
  unsigned wanted_ = 0, active_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

Options Options::from_environment() {
  Options o;
  const auto read = [](const char* name, uint64_t& out) {
    const char* v = std::getenv(name);
    if (!v || !*v) return;
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(v, &end, 0);
    if (errno || *end || v[0] == '-') throw vae::Error(std::string(name) + "='" + v + "': not a non-negative integer");
    out = x;
  };
  uint64_t workers = o.workers;
  read("VAE_EMU_SEED", o.thread_order_seed);
  read("VAE_EMU_WORKERS", workers);
  o.workers = unsigned(std::min<uint64_t>(workers, 1024));
  return o;
}

namespace {
// Throws through bad when static or static + dynamic shared memory is over CUDA's limits.
template <class Bad>
void bad_shared(std::size_t static_bytes, std::size_t dynamic_bytes, const Bad& bad) {
  if (static_bytes > kMaxStaticSharedBytes)
    bad(std::to_string(static_bytes) + " bytes of static shared memory is over the " +
        std::to_string(kMaxStaticSharedBytes) + " a block can have");
  if (static_bytes + dynamic_bytes > kMaxSharedBytesPerBlock)
    bad(std::to_string(static_bytes) + " bytes of static + " + std::to_string(dynamic_bytes) +
        " bytes of dynamic shared memory is over the " + std::to_string(kMaxSharedBytesPerBlock) +
        " an sm_90 block can have");
}
}  // namespace

void check_launch_limits(const GridLaunch& l) {
  const auto bad = [&](const std::string& what) { throw KernelError(where(l) + ": " + what); };
  if (l.block.x == 0 || l.block.y == 0 || l.block.z == 0 || l.grid.x == 0 || l.grid.y == 0 || l.grid.z == 0)
    bad("grid " + dims(l.grid) + " / block " + dims(l.block) + " has a zero dimension");
  if (l.block.x > kMaxBlock.x || l.block.y > kMaxBlock.y || l.block.z > kMaxBlock.z || l.block.volume() > kMaxThreadsPerBlock)
    bad("block " + dims(l.block) + " is over CUDA's limits (x, y <= 1024, z <= 64, at most 1024 threads)");
  if (l.grid.x > kMaxGrid.x || l.grid.y > kMaxGrid.y || l.grid.z > kMaxGrid.z)
    bad("grid " + dims(l.grid) + " is over CUDA's limits (x < 2^31, y, z <= 65535)");
  bad_shared(l.static_shared_bytes, l.dynamic_shared_bytes, bad);
}

void run_grid(const GridLaunch& launch, const Options& options, const std::function<void()>& thread_body) {
  check_launch_limits(launch);
  Job job;
  job.launch = &launch;
  job.options = &options;
  job.body = &thread_body;
  job.blocks = launch.grid.volume();
  unsigned workers = options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  workers = unsigned(std::min<uint64_t>(workers, job.blocks));
  if (t_worker && t_worker->running) throw KernelError("a kernel launched another kernel: not supported by the CPU executor");
  if (workers <= 1)
    job.work();
  else
    pool().run(job, workers);
  if (job.error) std::rethrow_exception(job.error);
}

void syncthreads() {
  Fiber& f = running_fiber("__syncthreads()");
  f.state = State::barrier;
  yield_to_scheduler(f);
}

const uint64_t* warp_collective(unsigned mask, const char* name, uint64_t value, WarpCombine combine) {
  Fiber& f = running_fiber(name);
  const ThreadContext& c = f.context;
  const unsigned threads = unsigned(c.block_dim.volume());
  const unsigned lanes_here = std::min(kWarpSize, threads - c.warp * kWarpSize);
  if (!(mask >> c.lane & 1u))
    throw KernelError(describe_current_thread() + ": " + name + " with mask " + hex(mask) +
                      ", which does not include the calling lane " + std::to_string(c.lane));
  if (lanes_here < kWarpSize && (mask >> lanes_here) != 0)
    throw KernelError(describe_current_thread() + ": " + name + " with mask " + hex(mask) + " names lane " +
                      std::to_string(lanes_here) + " and up, which warp " + std::to_string(c.warp) + " of a " +
                      std::to_string(threads) + "-thread block does not have");
  f.mask = mask;
  f.op = name;
  f.value = value;
  f.combine = combine;
  f.state = State::warp;
  yield_to_scheduler(f);
  return f.results;
}

void* dynamic_shared(std::size_t bytes) {
  Fiber& f = running_fiber("dynamic_shared");
  Worker& w = *f.worker;
  if (bytes > w.dynamic_shared_bytes)
    throw KernelError(describe_current_thread() + ": asks for " + std::to_string(bytes) +
                      " bytes of dynamic shared memory, but the launch gave " +
                      std::to_string(w.dynamic_shared_bytes));
  return w.dynamic_shared.get();
}

void note_static_shared(const void* variable, std::size_t bytes) {
  Fiber& f = running_fiber("a VAE_SHARED declaration");
  Worker& w = *f.worker;
  if (std::find(w.static_shared_seen.begin(), w.static_shared_seen.end(), variable) != w.static_shared_seen.end())
    return;
  w.static_shared_seen.push_back(variable);
  w.static_shared_bytes += bytes;
  bad_shared(w.static_shared_bytes, w.dynamic_shared_bytes,
             [](const std::string& what) { throw KernelError(describe_current_thread() + ": " + what); });
}

std::string describe_current_thread() {
  Worker* w = t_worker;
  if (!w || !w->running || !w->launch) return "(not in a kernel)";
  return where(*w->launch) + ", block " + dims(w->running->context.block_idx) + ", " + thread_name(*w->running);
}

}  // namespace vae::emu
