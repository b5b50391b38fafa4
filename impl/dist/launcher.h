#pragma once
// `--nproc N`: this program started N times on this machine as ranks 0..N-1 of one
// data-parallel world, with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE,
// MASTER_ADDR=127.0.0.1, MASTER_PORT = a free port) and the same arguments; the launcher only
// waits. When a rank fails (an error, a signal), the others are given the collective timeout
// to fail on their own (c10d reports the broken peer) and are then killed; the launcher names
// every rank that failed and how -- the first that failed of its own accord (not with
// kExitPeerLost) as the cause -- and exits with that rank's status. No LibTorch.
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "common/error.h"

namespace vae::dist {

// A collective that failed because another rank went away or stopped answering: this rank is
// a casualty, not the cause. main() exits with kExitPeerLost for it, so that the launcher can
// name the rank that failed first of its own accord.
class PeerLostError : public Error {
 public:
  using Error::Error;
};
inline constexpr int kExitPeerLost = 4;

// The program's own arguments (argv[1..]), recorded by main() for the launcher.
void set_program_arguments(int argc, char** argv);
const std::vector<std::string>& program_arguments();

// Runs the world and returns the exit status: 0 when every rank exited 0.
int run_local_world(int nproc, std::chrono::milliseconds timeout, std::ostream& log);

}  // namespace vae::dist
