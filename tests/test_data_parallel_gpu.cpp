// Data-parallel on this machine's GPUs over NCCL (label gpu): `validate --nproc N --device cuda`
// with N the GPUs the machine has, every CUDA backend that trains data-parallel passing
// (libtorch-cudagraph refused up front); on a one-GPU machine one rank, launched with RANK=0
// WORLD_SIZE=1 as torchrun would, which still builds ProcessGroupNCCL and all-reduces through
// it; and one data-parallel benchmark. Skips, saying why, without a GPU.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "command_runner.h"
#include "cuda/device_info.h"
#include "temp_dir.h"

namespace vae {
namespace {

using testing::CommandResult;
using testing::run;

int gpus() { return int(query_cuda().devices.size()); }

// Rank 0 of a world of one: the NCCL group exists and the gradient goes through it.
std::string launch(int ranks, const std::string& program, const std::string& args) {
  if (ranks > 1) return program + " --nproc " + std::to_string(ranks) + " " + args;
  return "RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 " + program + " " + args;
}

TEST(DataParallelGpu, NcclRanksPassValidateForEveryCudaBackend) {
  const CudaInfo info = query_cuda();
  if (info.devices.empty()) GTEST_SKIP() << info.unavailable_reason;
  const CommandResult r = run(launch(gpus(), VAEBENCH_EXE, "validate --device cuda"));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string world = std::to_string(gpus()) + " ranks over gloo + nccl";
  EXPECT_NE(r.output.find("PASS libtorch-eager (cuda:0, " + world), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PASS fused-cuda (cuda:0, " + world), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("FAIL "), std::string::npos) << r.output;
}

TEST(DataParallelGpu, OneBenchmarkOverNccl) {
  const CudaInfo info = query_cuda();
  if (info.devices.empty()) GTEST_SKIP() << info.unavailable_reason;
  testing::TempDir dir;
  const CommandResult r =
      run(launch(gpus(), VAEBENCH_BENCH_EXE, "--device cuda --backend fused-cuda --kinds train_step --batches 4096 "
                                             "--repetitions 3 --dp-iterations 50 --out " + dir.file("bench.json")));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(dir.file("bench.json"));
  const nlohmann::json doc = nlohmann::json::parse(in);
  const nlohmann::json dp = nlohmann::json::parse(doc["context"]["data_parallel"].get<std::string>());
  EXPECT_EQ(dp["world_size"], gpus());
  EXPECT_EQ(dp["engines"], "gloo + nccl");
}

}  // namespace
}  // namespace vae
