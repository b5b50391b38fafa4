#pragma once
// What the CPU can do for bf16, read from the kernel's view of it (/proc/cpuinfo's flags: what
// the CPU has *and* the kernel enabled; AMX tiles need the kernel's consent). LibTorch-free, so
// the judge-only builds and the tests can ask it; what LibTorch actually dispatches is asked
// in libtorch/cpu_bf16.h.
#include <set>
#include <string>

namespace vae {

struct CpuFlags {
  std::string source;            // the file read ("/proc/cpuinfo"), or why nothing was read
  std::set<std::string> flags;   // the first processor's "flags" line; empty when unreadable
  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
};

// The flags of the first processor listed in a cpuinfo-format file (default /proc/cpuinfo).
CpuFlags read_cpu_flags(const std::string& path = "/proc/cpuinfo");

}  // namespace vae
