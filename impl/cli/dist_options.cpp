#include "cli/dist_options.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>

#include "common/error.h"
#include "dist/launcher.h"

namespace vae::cli {

namespace {

std::chrono::milliseconds timeout_of(const DistOptions& o) {
  if (!(o.timeout_seconds > 0) || !std::isfinite(o.timeout_seconds))
    throw Error("--dist-timeout: must be a number of seconds > 0");
  return std::chrono::milliseconds(int64_t(o.timeout_seconds * 1000));
}

}  // namespace

void add_dist_options(CLI::App& app, DistOptions& o) {
  app.add_option("--nproc", o.nproc,
                 "Data-parallel: start this many ranks on this machine (Gloo on the CPU, NCCL on CUDA); "
                 "torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT are used when set")
      ->capture_default_str();
  app.add_option("--dist-timeout", o.timeout_seconds,
                 "Data-parallel: seconds a collective may wait for the other ranks before the run fails")
      ->capture_default_str();
  app.add_option("--dp-fault", o.fault, "")->group("");  // tests: a planted data-parallel bug (dist/group.h)
}

std::optional<int> launch_world_if_asked(const DistOptions& o) {
  if (o.nproc < 1) throw Error("--nproc: must be >= 1, got " + std::to_string(o.nproc));
  dist::parse_fault(o.fault);  // refused before any rank starts
  const std::chrono::milliseconds timeout = timeout_of(o);
  if (o.nproc == 1 || dist::launch_env_from_environment()) return std::nullopt;
  return dist::run_local_world(o.nproc, timeout, std::cerr);
}

std::string rank_device(const std::string& device) {
  const std::optional<dist::LaunchEnv> env = dist::launch_env_from_environment();
  if (device == "cuda" && env) return "cuda:" + std::to_string(env->local_rank);
  return device;
}

std::shared_ptr<dist::Group> join_world(const DistOptions& o, const std::string& device) {
  const std::optional<dist::LaunchEnv> env = dist::launch_env_from_environment();
  if (!env) return nullptr;
  if (o.nproc > 1 && o.nproc != env->world)
    throw Error("--nproc " + std::to_string(o.nproc) + " inside a launched world of WORLD_SIZE=" +
                std::to_string(env->world) + ": give one or the other");
  std::shared_ptr<dist::Group> group = dist::Group::connect(*env, device, timeout_of(o), dist::parse_fault(o.fault));
  if (group->rank() != 0) {
    static std::ofstream null("/dev/null");
    std::cout.rdbuf(null.rdbuf());
  }
  return group;
}

}  // namespace vae::cli
