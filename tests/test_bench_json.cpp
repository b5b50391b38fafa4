// The benchmark binary end to end on a tiny run: names follow the scheme, the counters and the
// manifest are there, the Python peer merges into the same file, and Google Benchmark's own
// compare.py reads the result.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "command_runner.h"
#include "json_file.h"
#include "report/bench_results.h"
#include "step_profile.h"
#include "work_model.h"
#include "temp_dir.h"

namespace vae::report {
namespace {

using nlohmann::json;
using vae::testing::read_json;
using vae::testing::run;
using vae::testing::TempDir;

const char* kCompare = "/usr/share/benchmark/compare.py";  // Debian's libbenchmark-tools


// One shared tiny run: the eager backend, two kinds, one batch size, two repetitions.
class BenchJson : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto r = run(std::string(VAEBENCH_BENCH_EXE) +
                       " --backend libtorch-eager --device cpu --kinds train_step,eval --batches 32 --repetitions 2"
                       " --min-time 0.01 --threads 1 --out " + dir_->file("bench.json"));
    status_ = r.status;
    output_ = r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
  static int status_;
  static std::string output_;
};
TempDir* BenchJson::dir_ = nullptr;
int BenchJson::status_ = -1;
std::string BenchJson::output_;

TEST_F(BenchJson, NamesCountersAndManifest) {
  ASSERT_EQ(status_, 0) << output_;
  const json doc = read_json(dir_->file("bench.json"));
  EXPECT_EQ(dir_->listing(), std::vector<std::string>{"bench.json"});  // the .tmp was renamed
  const std::regex scheme(R"((train_step|train_epoch|eval)/[a-z0-9-]+/(cpu|cuda)/(fp32|fp64|tf32|bf16)/batch:[0-9]+/manual_time)");
  std::set<std::string> names;
  for (const json& b : doc["benchmarks"]) {
    EXPECT_TRUE(std::regex_match(b["run_name"].get<std::string>(), scheme)) << b["run_name"];
    if (b["run_type"] == "iteration") {
      names.insert(b["run_name"].get<std::string>());
      EXPECT_GT(b["items_per_second"].get<double>(), 0);
      EXPECT_GT(b["TFLOP/s"].get<double>(), 0);
      EXPECT_GT(b["bytes_per_second"].get<double>(), 0);
      EXPECT_FALSE(b.contains("peak_pct"));  // a CPU's peak is unknown, not guessed
      EXPECT_EQ(b["label"], "steady_clock");
      // The process's peak RSS on the CPU: LibTorch and the resident dataset at least.
      EXPECT_GT(b["peak_mem_MiB"].get<double>(), 50.0) << b["run_name"];
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"train_step/libtorch-eager/cpu/fp32/batch:32/manual_time",
                                          "eval/libtorch-eager/cpu/fp32/batch:32/manual_time"}));
  bool has_cv = false;
  for (const json& b : doc["benchmarks"]) has_cv |= b.value("aggregate_name", "") == "cv";
  EXPECT_TRUE(has_cv);
  const json& ctx = doc["context"];
  for (const char* key : {"git_sha", "git_dirty", "cpu", "cpu_cores", "gpus", "cuda_driver", "cuda_runtime", "torch",
                          "compiler", "cxx_flags", "build_type", "dataset", "seed", "threads", "manifest"})
    EXPECT_TRUE(ctx.contains(key)) << key;
  EXPECT_EQ(ctx["peak.cpu"], "unknown");
  const json manifest = json::parse(ctx["manifest"].get<std::string>());
  EXPECT_EQ(manifest["dataset"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(manifest["threads"], 1);
  // The reader of the report sees the same rows.
  const auto rows = read_bench_rows(doc, "bench.json");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].seconds.size(), 2u);
  ASSERT_TRUE(rows[0].peak_memory_mib.has_value());
  EXPECT_GT(*rows[0].peak_memory_mib, 50.0);
}

// CPU bf16 figures say whether they are emulated: the manifest's cpu_bf16 and, where the CPU
// emulates bf16, the context's note.cpu.bf16. ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN refuse bf16 on
// any x86-64 CPU, as an AVX2-only CPU does, so the note shows on every machine; fp32 alone has none.
TEST(BenchJsonBf16, EmulatedCpuBf16FiguresCarryTheNote) {
  TempDir dir;
  const std::string common = std::string(VAEBENCH_BENCH_EXE) +
                             " --backend libtorch-eager --device cpu --kinds eval --batches 8 --repetitions 1"
                             " --min-time 0.01 --threads 1 --out ";
  const auto r = run("ONEDNN_MAX_CPU_ISA=AVX2 " + common + dir.file("bf16.json") + " --precision bf16");
  ASSERT_EQ(r.status, 0) << r.output;
  const json ctx = read_json(dir.file("bf16.json"))["context"];
  const json cpu_bf16 = json::parse(ctx["manifest"].get<std::string>())["cpu_bf16"];
  EXPECT_EQ(cpu_bf16["hardware"], "emulated") << cpu_bf16.dump();
  EXPECT_EQ(cpu_bf16["onednn_bf16"], false);
  ASSERT_TRUE(ctx.contains("note.cpu.bf16")) << ctx.dump();
  EXPECT_EQ(ctx["note.cpu.bf16"].get<std::string>().rfind("emulated: ", 0), 0u) << ctx["note.cpu.bf16"];
  const auto fp32 = run("ONEDNN_MAX_CPU_ISA=AVX2 " + common + dir.file("fp32.json"));
  ASSERT_EQ(fp32.status, 0) << fp32.output;
  EXPECT_FALSE(read_json(dir.file("fp32.json"))["context"].contains("note.cpu.bf16")) << "no bf16 was timed";
}

TEST_F(BenchJson, PythonPeerMergesIntoTheSameFile) {
  ASSERT_EQ(status_, 0) << output_;
  const std::string merged = dir_->file("merged.json");
  std::filesystem::copy_file(dir_->file("bench.json"), merged);
  const auto r = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/bench/python_peer.py bench --device cpu"
                     " --modes python-eager --kinds eval --batches 32 --repetitions 2 --min-time 0.01 --threads 1"
                     " --merge-into " + merged);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto rows = read_bench_rows(read_json(merged), "merged.json");
  std::set<std::string> backends;
  for (const BenchRow& row : rows) {
    backends.insert(row.id.backend);
    EXPECT_FALSE(row.failed) << row.run_name << ": " << row.error;
  }
  EXPECT_EQ(backends, (std::set<std::string>{"libtorch-eager", "python-eager"}));
  EXPECT_TRUE(read_json(merged)["context"].contains("python_peer.torch"));
}

TEST_F(BenchJson, LoadsInGoogleBenchmarksCompareTool) {
  ASSERT_EQ(status_, 0) << output_;
  if (!std::filesystem::exists(kCompare))
    GTEST_SKIP() << kCompare << " not installed (Debian package libbenchmark-tools; scripts/setup installs it)";
  const std::string f = dir_->file("bench.json");
  const auto r = run(std::string(VAE_PYTHON) + " " + kCompare + " benchmarks " + f + " " + f);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("train_step/libtorch-eager/cpu/fp32/batch:32/manual_time"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("+0.0000"), std::string::npos) << r.output;  // a file against itself: no change
}


// Two ranks (Gloo): every benchmark runs the same fixed iterations on every rank, on its half
// of the global batch; rank 0 alone writes the JSON, which says the world size; the report's
// reader takes the iterations:N part of the name. One device must be named.
TEST(BenchDataParallel, TwoRanksWriteOneDocumentSayingTheWorldSize) {
  TempDir dir;
  const auto r = run(std::string(VAEBENCH_BENCH_EXE) +
                     " --nproc 2 --backend libtorch-eager --device cpu --kinds train_step --batches 64 --repetitions 1"
                     " --dp-iterations 3 --threads 1 --out " + dir.file("bench.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"bench.json"});  // one file, no rank's .tmp left
  const json doc = read_json(dir.file("bench.json"));
  const json dp = json::parse(doc["context"]["data_parallel"].get<std::string>());
  EXPECT_EQ(dp["world_size"], 2);
  EXPECT_EQ(dp["iterations_per_repetition"], 3);
  size_t iterations = 0;
  for (const json& b : doc["benchmarks"])
    if (b["run_type"] == "iteration") {
      ++iterations;
      EXPECT_EQ(b["iterations"], 3) << b;
      EXPECT_EQ(b["world_size"], 2) << b;
      EXPECT_FALSE(b.contains("peak_pct"));
      EXPECT_NE(b["label"].get<std::string>().find("barrier of all 2 ranks"), std::string::npos) << b;
    }
  EXPECT_EQ(iterations, 1u);
  const auto rows = read_bench_rows(doc, "bench.json");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id.kind, "train_step");
  EXPECT_EQ(rows[0].id.batch, 64);
  EXPECT_GT(rows[0].median_samples_per_second, 0);

  const auto no_device = run(std::string(VAEBENCH_BENCH_EXE) + " --nproc 2 --kinds train_step --batches 64");
  EXPECT_EQ(no_device.status, 2) << no_device.output;
  EXPECT_NE(no_device.output.find("--nproc: name one --device"), std::string::npos) << no_device.output;
}

}  // namespace
}  // namespace vae::report

// A backend capturing one graph per batch size must capture an epoch's last, partial batch in
// the warm-up, not in the first timed epoch: the warm-up covers every size an epoch runs.
TEST(WorkModel, TheWarmUpCoversEveryBatchSizeOfTheTimedIterations) {
  using vae::bench::Kind;
  using vae::bench::timed_batch_sizes;
  EXPECT_EQ(timed_batch_sizes(Kind::TrainEpoch, 60000, 128), (std::vector<int64_t>{128, 60000 % 128}));
  EXPECT_EQ(timed_batch_sizes(Kind::TrainEpoch, 60000, 1000), (std::vector<int64_t>{1000}));
  EXPECT_EQ(timed_batch_sizes(Kind::TrainEpoch, 100, 128), (std::vector<int64_t>{100}));
  EXPECT_EQ(timed_batch_sizes(Kind::TrainStep, 60000, 128), (std::vector<int64_t>{128}));
  EXPECT_EQ(timed_batch_sizes(Kind::Eval, 60000, 96), (std::vector<int64_t>{96}));
  for (const int64_t batch : {1, 7, 128, 4096, 60000, 70000}) {
    const std::vector<int64_t> warm = timed_batch_sizes(Kind::TrainEpoch, 60000, batch);
    int64_t images = 0;
    for (const int64_t size : vae::bench::epoch_batch_sizes(60000, batch)) {
      images += size;
      EXPECT_NE(std::find(warm.begin(), warm.end(), size), warm.end()) << "batch " << batch << ": size " << size;
    }
    EXPECT_EQ(images, 60000) << "batch " << batch;
  }
}

// The per-kernel table's roofline bound: max(FLOP / peak, bytes / bandwidth), the GEMM and conv
// families at the precision's peak (tf32, bf16: the tensor cores), other calls at the FP32 peak.
TEST(StepProfile, BoundsEachCallByTheRooflineOfTheDataSheet) {
  const vae::bench::DevicePeak peak{"test GPU", 10.0, 100.0, 200.0, 200.0, 1.0, "made up"};
  const std::vector<vae::device::ProfiledCall> calls = {
      {{"gemm.forward a", 1e9, 1e6}, 1e-3},  // compute-bound: 1e9 / 1e13 = 100 us
      {{"likelihood b", 0.0, 1e9}, 2e-3},    // memory-bound: 1e9 / 1e12 = 1 ms
      {{"conv_transpose.backward c", 2e9, 1e6}, 1e-3},  // the conv family: tensor cores too
  };
  const nlohmann::json fp32 = vae::bench::profile_json("fused-cuda", "cuda", "fp32", 128, calls, peak);
  ASSERT_EQ(fp32["calls"].size(), 3u);
  EXPECT_DOUBLE_EQ(fp32["calls"][0]["bound_seconds"].get<double>(), 1e-4);
  EXPECT_EQ(fp32["calls"][0]["bound"], "compute");
  EXPECT_DOUBLE_EQ(fp32["calls"][0]["percent_of_bound"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(fp32["calls"][0]["tflops"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(fp32["calls"][1]["bound_seconds"].get<double>(), 1e-3);
  EXPECT_EQ(fp32["calls"][1]["bound"], "memory");
  EXPECT_DOUBLE_EQ(fp32["calls"][1]["percent_of_bound"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(fp32["total_seconds"].get<double>(), 4e-3);
  const nlohmann::json tf32 = vae::bench::profile_json("fused-cuda", "cuda", "tf32", 128, calls, peak);
  EXPECT_DOUBLE_EQ(tf32["calls"][0]["bound_seconds"].get<double>(), 1e-5);  // the tensor cores' peak
  EXPECT_DOUBLE_EQ(tf32["calls"][1]["bound_seconds"].get<double>(), 1e-3);  // not a GEMM: unchanged
  EXPECT_DOUBLE_EQ(tf32["calls"][2]["bound_seconds"].get<double>(), 2e-5);
  const nlohmann::json bf16 = vae::bench::profile_json("fused-cuda", "cuda", "bf16", 128, calls, peak);
  EXPECT_DOUBLE_EQ(bf16["calls"][0]["bound_seconds"].get<double>(), 5e-6);  // the BF16 peak
  EXPECT_DOUBLE_EQ(bf16["calls"][1]["bound_seconds"].get<double>(), 1e-3);
  EXPECT_DOUBLE_EQ(bf16["calls"][2]["bound_seconds"].get<double>(), 1e-5);
  EXPECT_DOUBLE_EQ(bf16["peak"]["bf16_tflops"].get<double>(), 200.0);
  const nlohmann::json unknown = vae::bench::profile_json("fused-cuda", "cuda-emu", "fp32", 128, calls, std::nullopt);
  EXPECT_TRUE(unknown["calls"][0]["bound_seconds"].is_null());
  EXPECT_NE(vae::bench::profile_text(fp32).find("gemm.forward a"), std::string::npos);
}
