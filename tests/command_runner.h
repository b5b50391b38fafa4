#pragma once
// Running the vaebench executable from tests: exit status and combined output.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "io/remove_tree.h"

namespace vae::testing {

struct CommandResult {
  int status;
  std::string output;  // stdout and stderr together
};

inline CommandResult run(const std::string& command) {
  CommandResult r{-1, ""};
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) r.output.append(buf, n);
  const int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

#ifdef VAEBENCH_EXE
inline CommandResult vaebench(const std::string& args) { return run(std::string(VAEBENCH_EXE) + " " + args); }
#endif

// An empty directory under the system temp dir, unique to this process.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("vaebench-test-" + name + "-" + std::to_string(getpid()));
  vae::remove_tree(dir.string());  // not remove_all: see io/remove_tree.h (binaries that link LibTorch)
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace vae::testing
