#pragma once
// The data-parallel options of train and validate: --nproc N (this machine's N ranks, started
// by dist/launcher.h), --dist-timeout, and the hidden --dp-fault of the tests. A process that
// torchrun (or --nproc) started finds RANK, WORLD_SIZE, ... in its environment and joins.
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "dist/group.h"

namespace vae::cli {

struct DistOptions {
  int nproc = 1;
  double timeout_seconds = 120;
  std::string fault;  // dist::parse_fault
};

void add_dist_options(CLI::App& app, DistOptions& o);

// The launcher's side of --nproc N (N > 1, outside a launched world): runs the N ranks and
// returns the run's exit status; nullopt in a rank or a single process.
std::optional<int> launch_world_if_asked(const DistOptions& o);

// The device of this rank: plain "cuda" becomes "cuda:LOCAL_RANK" in a launched world (one GPU
// per local rank, as torchrun's users expect); anything else is kept.
std::string rank_device(const std::string& device);

// This process's place in the world its environment describes, or null for a single process.
// `device` is the backends' (CUDA adds NCCL). On a rank other than 0, standard output is
// silenced from here on: rank 0 speaks for the run.
std::shared_ptr<dist::Group> join_world(const DistOptions& o, const std::string& device);

}  // namespace vae::cli
