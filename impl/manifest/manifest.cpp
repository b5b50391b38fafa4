#include "manifest/manifest.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <Eigen/Core>
#include <torch/torch.h>

#include "common/build_info.h"
#include "cuda/device_info.h"
#include "libtorch/cpu_bf16.h"

namespace vae {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string run(const std::string& command) {
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, pipe)) out += buf;
    pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// The checkout's state now (the configure-time SHA goes stale after a commit). Where the
// sources are no git checkout (binaries carried to the GPU machine by scripts/gpu), the
// state recorded when they were packed (VAE_PACKED_GIT_SHA, VAE_PACKED_GIT_DIRTY), else the
// configure-time SHA.
nlohmann::json git_state() {
  const std::string dir = "'" VAE_SOURCE_DIR "'";
  const std::string sha = run("git -C " + dir + " rev-parse HEAD 2>/dev/null");
  if (sha.empty()) {
    const char* packed = std::getenv("VAE_PACKED_GIT_SHA");
    const char* packed_dirty = std::getenv("VAE_PACKED_GIT_DIRTY");
    if (packed && *packed)
      return {{"git_sha", packed}, {"git_dirty", packed_dirty ? nlohmann::json(std::string(packed_dirty) == "true")
                                                              : nlohmann::json("unknown")}};
    return {{"git_sha", VAE_GIT_SHA}, {"git_dirty", "unknown"}};
  }
  const bool dirty = !run("git -C " + dir + " status --porcelain --untracked-files=no 2>/dev/null").empty();
  return {{"git_sha", sha}, {"git_dirty", dirty}};
}

std::string host_name() {
  char buf[256] = {};
  return gethostname(buf, sizeof buf - 1) == 0 ? buf : "unknown";
}

}  // namespace

nlohmann::json make_manifest(const Dataset* dataset) {
  const CudaInfo cuda = query_cuda();
  nlohmann::json gpus = nlohmann::json::array();
  for (const CudaDevice& d : cuda.devices)
    gpus.push_back({{"index", d.index},
                    {"name", d.name},
                    {"sm", std::to_string(d.sm_major) + std::to_string(d.sm_minor)},
                    {"memory_gib", d.memory_gib}});
  nlohmann::json m = {
      {"vaebench", VAE_VERSION},
      {"host", host_name()},
      {"cpu", cpu_model()},
      {"cpu_cores", std::thread::hardware_concurrency()},
      // Whether CPU bf16 figures are native or emulated, and which tier the bf16 checks ran.
      {"cpu_bf16", libtorch::to_json(libtorch::cpu_bf16_support())},
      {"gpus", gpus},
      {"gpu_unavailable_reason", cuda.unavailable_reason},
      {"cuda_driver", cuda_version_string(cuda.driver_version)},
      {"cuda_runtime", cuda_version_string(cuda.runtime_version)},
      {"cuda_compiled", cuda.compiled},
      {"cuda_architectures", VAE_CUDA_ARCHITECTURES},
      {"torch", TORCH_VERSION},
      {"eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                    std::to_string(EIGEN_MINOR_VERSION)},
      {"compiler", std::string(__VERSION__)},
      {"build_type", VAE_BUILD_TYPE},
      {"cxx_flags", VAE_CXX_FLAGS},
  };
  m.update(git_state());
  if (dataset) {
    m["dataset"] = {{"identity", dataset->identity},
                    {"verified", dataset->verified},
                    {"sha256", dataset->combined_sha256}};
    for (const FileInfo& f : dataset->files) m["dataset"]["files"][f.path] = f.sha256;
  }
  return m;
}

}  // namespace vae
