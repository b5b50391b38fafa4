#pragma once
// Data-parallel training on PyTorch's c10d (the engine torch.distributed runs on; nothing of
// our own on the wire): a TCPStore for the rendezvous, ProcessGroupGloo for host memory and
// ProcessGroupNCCL for CUDA memory. One Group is one process's membership of the world.
//
// The launch environment is torchrun's: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT (launch_env_from_environment); `--nproc N` (dist/launcher.h) sets it for N
// local processes. Every collective waits at most the group's timeout; a rank that died or
// hung past it makes the others throw vae::Error naming this rank, the collective and
// what c10d reported, never hang.
//
// What a step reduces: the flat gradient buffer, once, between a backend's backward and its
// Adam step (Backend::set_gradient_all_reduce, gradient_all_reduce() here); the loss sums and
// the non-finite record when the trainer reads them (sum / min below). This header includes
// no LibTorch.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/noise.h"

namespace vae::dist {

struct LaunchEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  // torchrun's elastic agent already serves the store on MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank, rank 0 included, connects as a client.
  bool agent_store = false;
};

// torchrun's variables, or nullopt when none of RANK / WORLD_SIZE is set (a single process).
// Throws vae::Error naming the variable that is missing or malformed.
std::optional<LaunchEnv> launch_env_from_environment();

// Bugs planted on purpose, to prove that the data-parallel checks catch them (tests only;
// the hidden option --dp-fault): the gradient averaged instead of summed; the loss sums not
// reduced; every rank drawing rank 0's noise; rank 1 leaving its parameters un-updated
// (GradientAllReduce::planted_stale_rank), so the ranks drift apart.
enum class Fault { none, mean, skip_loss_sums, rank0_noise, stale_rank, die, hang };
// "", "mean", "skip-loss-sums", "rank0-noise", "stale-rank", "die", "hang" (die and hang: rank 1
// at its third step, for the fault-tolerance tests). Throws vae::Error naming --dp-fault.
Fault parse_fault(const std::string& name);
const char* fault_name(Fault f);

// What every rank must hold bit for bit after a step: the parameters, both Adam moments and
// the step count, in one vector (for Group::differing_from_rank0).
std::vector<double> training_state_values(const std::vector<double>& params, const AdamState& state);

// Rank `rank`'s images of a global batch of `global` images: [first, first + count). The
// remainder is spread: the first global % world ranks take one image more.
struct Shard {
  int64_t first = 0, count = 0;
};
Shard shard_of(int64_t global, int rank, int world);

class Group {
 public:
  // Joins the world `env` describes: rank 0 serves the TCPStore on MASTER_PORT. `device` is the
  // backends' device: "cuda[:N]" adds an NCCL group for device memory (this rank's GPU:
  // LOCAL_RANK, or N when given); host memory always goes through Gloo.
  static std::shared_ptr<Group> connect(const LaunchEnv& env, const std::string& device,
                                        std::chrono::milliseconds timeout, Fault fault = Fault::none);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int world() const;
  Fault fault() const;
  std::chrono::milliseconds timeout() const;
  // "gloo" or "gloo + nccl".
  std::string engines() const;

  // Element-wise over the ranks, in place, on the host (Gloo); the same result on every rank.
  void sum(std::vector<double>& values, const std::string& what);
  void min(std::vector<double>& values, const std::string& what);
  void max(std::vector<double>& values, const std::string& what);
  // Rank 0's value on every rank.
  void broadcast(std::vector<double>& values, const std::string& what);
  // How many of `values` differ, bit for bit, from rank 0's `values` (0 on rank 0).
  size_t differing_from_rank0(const std::vector<double>& values, const std::string& what);
  // Every rank's text, in rank order (through the store).
  std::vector<std::string> all_gather_text(const std::string& what, const std::string& text);
  // Every rank must hold the same JSON object: throws vae::Error on every rank naming the
  // ranks and the first keys that differ from rank 0's.
  void check_same(const std::string& what, const std::string& json_object);

  // The all-reduce a backend calls on its gradient (sum, or the planted mean).
  std::shared_ptr<GradientAllReduce> gradient_all_reduce();

  // This rank's images of a global batch of `global` images (shard_of).
  Shard shard(int64_t global) const;
  // The noise slice of this rank's shard (rank 0's under Fault::rank0_noise).
  BatchSlice noise_slice(int64_t global) const;

  // Raises the planted die/hang fault on rank 1 at training step `step` (1-based).
  void maybe_fail_at_step(int64_t step) const;

  struct Impl;

 private:
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vae::dist
