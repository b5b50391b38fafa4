#include "dist/group.h"

#include <csignal>
#include <functional>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef VAE_DIST_NCCL
#include <c10/cuda/CUDAStream.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "common/device_names.h"
#include "common/error.h"
#include "dist/launcher.h"

namespace vae::dist {

namespace {

// An environment variable as a non-negative integer; nullopt when unset.
std::optional<int> env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < 0 || n > 1 << 20)
    throw Error(std::string(name) + "=" + v + ": not a non-negative integer (torchrun's launch environment)");
  return int(n);
}

// c10d's message, first line: enough to say what broke without its C++ stack.
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

std::optional<LaunchEnv> launch_env_from_environment() {
  const std::optional<int> rank = env_int("RANK"), world = env_int("WORLD_SIZE");
  if (!rank && !world) return std::nullopt;
  if (!rank || !world) throw Error(std::string(rank ? "WORLD_SIZE" : "RANK") + " is not set, but " +
                                   (rank ? "RANK" : "WORLD_SIZE") + " is: a launcher sets both (torchrun's environment)");
  if (*world < 1) throw Error("WORLD_SIZE=0: must be >= 1");
  if (*rank >= *world)
    throw Error("RANK=" + std::to_string(*rank) + " is not below WORLD_SIZE=" + std::to_string(*world));
  LaunchEnv env;
  env.rank = *rank;
  env.world = *world;
  env.local_rank = env_int("LOCAL_RANK").value_or(*rank);
  if (const char* a = std::getenv("MASTER_ADDR")) env.master_addr = a;
  if (env.master_addr.empty()) throw Error("MASTER_ADDR is empty");
  const std::optional<int> port = env_int("MASTER_PORT");
  if (!port) throw Error("MASTER_PORT is not set (torchrun's environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
  if (*port < 1 || *port > 65535) throw Error("MASTER_PORT=" + std::to_string(*port) + ": not a TCP port (1-65535)");
  env.master_port = *port;
  if (const char* a = std::getenv("TORCHELASTIC_USE_AGENT_STORE")) env.agent_store = std::string(a) == "True";
  return env;
}

Fault parse_fault(const std::string& name) {
  for (Fault f : {Fault::none, Fault::mean, Fault::skip_loss_sums, Fault::rank0_noise, Fault::stale_rank, Fault::die,
                  Fault::hang})
    if (name == fault_name(f)) return f;
  throw Error("--dp-fault " + name + ": unknown; mean, skip-loss-sums, rank0-noise, stale-rank, die or hang");
}

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::none: return "";
    case Fault::mean: return "mean";
    case Fault::skip_loss_sums: return "skip-loss-sums";
    case Fault::rank0_noise: return "rank0-noise";
    case Fault::stale_rank: return "stale-rank";
    case Fault::die: return "die";
    case Fault::hang: return "hang";
  }
  return "?";
}

struct Group::Impl {
  LaunchEnv env;
  Fault fault = Fault::none;
  std::chrono::milliseconds timeout{};
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::Backend> gloo;
  c10::intrusive_ptr<c10d::Backend> nccl;  // CUDA device memory, when the backends run on CUDA
  int64_t gathers = 0;                      // store keys of all_gather_text are numbered

  std::string where() const {
    return "data-parallel rank " + std::to_string(env.rank) + " of " + std::to_string(env.world);
  }

  // Runs one collective and waits for it, at most the timeout; c10d's failure becomes a
  // vae::Error that says which rank saw it, in which collective, and what the likely cause is.
  void run(c10d::Backend& engine, const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
    try {
      c10::intrusive_ptr<c10d::Work> work = start();
      if (!work->wait(timeout))
        throw PeerLostError(where() + ": " + what + " did not complete within the " +
                            std::to_string(timeout.count() / 1000) + " s of --dist-timeout (another rank hung?)");
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw PeerLostError(where() + ": " + what + " failed over " + engine.getBackendName() + " (another rank exited, or hung for " +
                  std::to_string(timeout.count() / 1000) + " s, the --dist-timeout): " + first_line(e.what()));
    }
  }

  void host_reduce(std::vector<double>& v, c10d::ReduceOp op, const std::string& what) {
    if (v.empty()) return;
    std::vector<at::Tensor> t{torch::from_blob(v.data(), {int64_t(v.size())}, torch::kFloat64)};
    c10d::AllreduceOptions o;
    o.reduceOp = op;
    o.timeout = timeout;
    run(*gloo, what, [&] { return gloo->allreduce(t, o); });
  }
};

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;

std::shared_ptr<Group> Group::connect(const LaunchEnv& env, const std::string& device, std::chrono::milliseconds timeout,
                                      Fault fault) {
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->fault = fault;
  impl->timeout = timeout;
  const std::string at = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(env.master_port);
    so.isServer = env.rank == 0 && !env.agent_store;
    so.numWorkers = size_t(env.world);
    so.waitWorkers = true;  // a client registers as a worker only when it waits too
    so.timeout = timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    if (env.rank == 0 && (msg.find("EADDRINUSE") != std::string::npos || msg.find("address already in use") != std::string::npos))
      throw Error("MASTER_PORT " + std::to_string(env.master_port) + ": rank 0 cannot serve the rendezvous on " + at +
                  ", the port is in use (another run?); choose another MASTER_PORT");
    throw Error("data-parallel rank " + std::to_string(env.rank) + ": the rendezvous at " + at + " (MASTER_ADDR:MASTER_PORT) failed "
                "within " + std::to_string(timeout.count() / 1000) + " s: " + first_line(msg));
  }
  try {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
    // Loopback for a one-machine world (no name resolution needed); otherwise the interface
    // GLOO_SOCKET_IFNAME names, or the address this host's name resolves to (as torch does).
    const bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (local)
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto prefix = c10::make_intrusive<c10d::PrefixStore>("gloo", impl->store);
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(prefix, env.rank, env.world, gloo_options);
    if (is_gpu_device(device)) {
#ifdef VAE_DIST_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      auto nccl_prefix = c10::make_intrusive<c10d::PrefixStore>("nccl", impl->store);
      impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(nccl_prefix, env.rank, env.world, nccl_options);
#else
      throw Error("--device " + device + ": data-parallel CUDA training needs NCCL, and this build has no NCCL part of "
                  "LibTorch (CPU-only LibTorch, or VAE_TORCH_CPU_ONLY)");
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("data-parallel rank " + std::to_string(env.rank) + ": joining the process group at " + at + " failed: " +
                first_line(e.what()));
  }
  return std::shared_ptr<Group>(new Group(std::move(impl)));
}

int Group::rank() const { return impl_->env.rank; }
int Group::world() const { return impl_->env.world; }
Fault Group::fault() const { return impl_->fault; }
std::chrono::milliseconds Group::timeout() const { return impl_->timeout; }
std::string Group::engines() const { return impl_->nccl ? "gloo + nccl" : "gloo"; }

void Group::sum(std::vector<double>& v, const std::string& what) { impl_->host_reduce(v, c10d::ReduceOp::SUM, what); }
void Group::min(std::vector<double>& v, const std::string& what) { impl_->host_reduce(v, c10d::ReduceOp::MIN, what); }
void Group::max(std::vector<double>& v, const std::string& what) { impl_->host_reduce(v, c10d::ReduceOp::MAX, what); }

void Group::broadcast(std::vector<double>& v, const std::string& what) {
  if (v.empty()) return;
  std::vector<at::Tensor> t{torch::from_blob(v.data(), {int64_t(v.size())}, torch::kFloat64)};
  c10d::BroadcastOptions o;
  o.rootRank = 0;
  o.timeout = impl_->timeout;
  impl_->run(*impl_->gloo, what, [&] { return impl_->gloo->broadcast(t, o); });
}

size_t Group::differing_from_rank0(const std::vector<double>& values, const std::string& what) {
  std::vector<double> rank0 = values;
  broadcast(rank0, what);
  size_t differ = 0;
  for (size_t i = 0; i < values.size(); ++i) differ += std::memcmp(&values[i], &rank0[i], sizeof(double)) != 0;
  return differ;
}

std::vector<std::string> Group::all_gather_text(const std::string& what, const std::string& text) {
  const std::string key = "vaebench/gather/" + std::to_string(impl_->gathers++) + "/";
  std::vector<std::string> out(static_cast<size_t>(world()));
  try {
    impl_->store->set(key + std::to_string(rank()), std::vector<uint8_t>(text.begin(), text.end()));
    for (int r = 0; r < world(); ++r) {
      const std::vector<uint8_t> v = impl_->store->get(key + std::to_string(r));
      out[size_t(r)].assign(v.begin(), v.end());
    }
  } catch (const std::exception& e) {
    throw PeerLostError(impl_->where() + ": exchanging " + what + " through the store failed (another rank exited, or did not "
                "arrive within the --dist-timeout): " + first_line(e.what()));
  }
  return out;
}

void Group::check_same(const std::string& what, const std::string& json_object) {
  const std::vector<std::string> all = all_gather_text(what, json_object);
  const nlohmann::json mine0 = nlohmann::json::parse(all[0]);
  std::string differences;
  for (size_t r = 1; r < all.size(); ++r) {
    const nlohmann::json other = nlohmann::json::parse(all[r]);
    std::string keys;
    for (const auto& [k, v] : mine0.items())
      if (!other.contains(k) || other[k] != v)
        keys += (keys.empty() ? "" : ", ") + k + " (" + (other.contains(k) ? other[k].dump() : "missing") + " against " +
                v.dump() + ")";
    for (const auto& [k, v] : other.items())
      if (!mine0.contains(k)) keys += (keys.empty() ? "" : ", ") + k + " (only on rank " + std::to_string(r) + ")";
    if (!keys.empty()) differences += (differences.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + ": " + keys;
  }
  if (!differences.empty())
    throw Error(impl_->where() + ": the ranks do not agree on " + what + ", compared with rank 0's: " + differences);
}

namespace {

// The gradient's all-reduce: Gloo for host memory (cpu, cuda-emu), NCCL for CUDA memory.
class C10dGradientAllReduce final : public GradientAllReduce {
 public:
  explicit C10dGradientAllReduce(Group::Impl& g) : g_(g) {}

  // A world of one still runs the collective: one rank on a one-GPU machine exercises NCCL.
  void sum(void* data, size_t count, Element element, const std::string& device) override {
    const torch::Dtype dtype = element == Element::f64 ? torch::kFloat64 : torch::kFloat32;
    const bool cuda = is_gpu_device(device);
    const torch::Device where = cuda ? torch::Device(device) : torch::Device(torch::kCPU);
    std::vector<at::Tensor> t{torch::from_blob(data, {int64_t(count)}, torch::TensorOptions().dtype(dtype).device(where))};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = g_.timeout;
    c10d::Backend& engine = cuda ? *g_.nccl : *g_.gloo;
    if (cuda && !g_.nccl) throw Error(g_.where() + ": a CUDA gradient, and no NCCL group");
    g_.run(engine, "the gradient's all-reduce (" + std::to_string(count) + " values)", [&] { return engine.allreduce(t, o); });
#ifdef VAE_DIST_NCCL
    // NCCL's wait() orders LibTorch's current stream after the all-reduce; our callers go on
    // with their own streams, so the host waits here.
    if (cuda) c10::cuda::getCurrentCUDAStream(where.index() < 0 ? 0 : where.index()).synchronize();
#endif
    if (g_.fault == Fault::mean) t[0].div_(double(g_.env.world));  // planted: DDP's averaging instead of the sum
  }

  bool planted_stale_rank() const override { return g_.fault == Fault::stale_rank && g_.env.rank == 1; }

 private:
  Group::Impl& g_;
};

}  // namespace

std::shared_ptr<GradientAllReduce> Group::gradient_all_reduce() { return std::make_shared<C10dGradientAllReduce>(*impl_); }

std::vector<double> training_state_values(const std::vector<double>& params, const AdamState& state) {
  std::vector<double> v = params;
  v.insert(v.end(), state.exp_avg.begin(), state.exp_avg.end());
  v.insert(v.end(), state.exp_avg_sq.begin(), state.exp_avg_sq.end());
  v.push_back(double(state.step));
  return v;
}

Shard shard_of(int64_t global, int rank, int world) {
  const int64_t n = world, r = rank;
  const int64_t base = global / n, extra = global % n;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

Shard Group::shard(int64_t global) const { return shard_of(global, rank(), world()); }

BatchSlice Group::noise_slice(int64_t global) const {
  const Shard s = shard(global);
  return {impl_->fault == Fault::rank0_noise ? 0 : s.first, global};
}

void Group::maybe_fail_at_step(int64_t step) const {
  if (rank() != 1 || step != 3) return;
  if (impl_->fault == Fault::die) std::raise(SIGKILL);  // as the out-of-memory killer would
  if (impl_->fault == Fault::hang)
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace vae::dist
