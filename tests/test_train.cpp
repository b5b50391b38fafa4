// vaebench train end to end on MNIST with small models: history, checkpoints, pictures,
// --resume reproducing an uninterrupted run bit for bit, and divergence stopping cleanly
// with the last good checkpoint untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <fstream>
#include <iterator>
#include <random>

#include <nlohmann/json.hpp>

#include "command_runner.h"
#include "json_file.h"
#include "sanitizer_tier.h"
#include "common/error.h"
#include "io/remove_tree.h"
#include "libtorch/cpu_bf16.h"
#include "data/dataset.h"
#include "data/image_folder.h"
#include "data/pixels.h"
#include "model/checkpoint.h"
#include "model/layers.h"
#include "train/evaluator.h"
#include "pictures/png.h"

namespace vae {
namespace {

using testing::fresh_dir;
using testing::read_json;
using testing::vaebench;

const std::string kSmall = "--hidden 32 --latent 2 --batch 500 --threads 1";


std::string bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Train, WritesHistoryCheckpointAndPictures) {
  const auto dir = fresh_dir("train");
  const auto r = vaebench("train " + kSmall + " --iw-samples 4 --epochs 2 --out " + dir.string() + " --json " +
                          (dir / "copy.json").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("epoch 2/2: train loss "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("importance-weighted test NLL (S=4)"), std::string::npos) << r.output;

  const nlohmann::json h = read_json(dir / "history.json");
  EXPECT_EQ(h, read_json(dir / "copy.json"));
  ASSERT_EQ(h["epochs"].size(), 2u);
  for (const auto& e : h["epochs"]) {
    for (const char* k : {"loss", "recon", "kl", "mu_mean", "mu_rms", "sigma_mean", "active_units"})
      EXPECT_TRUE(e["test"].contains(k)) << k;
    EXPECT_GT(e["samples_per_second"].get<double>(), 0);
    EXPECT_NEAR(e["train"]["loss"].get<double>(), e["train"]["recon"].get<double>() + e["train"]["kl"].get<double>(),
                1e-6 * e["train"]["loss"].get<double>());
  }
  EXPECT_EQ(h["epochs"][1]["step"], 2 * 120);  // 60000 / 500 steps per epoch
  // Learning happened: the second epoch's test loss is below the first's.
  EXPECT_LT(h["epochs"][1]["test"]["loss"].get<double>(), h["epochs"][0]["test"]["loss"].get<double>());
  // The IW bound is tighter than the one-sample ELBO (both in nats per image).
  EXPECT_LT(h["iw"]["test_nll"].get<double>(), h["epochs"][1]["test"]["recon"].get<double>() +
                                                   h["epochs"][1]["test"]["kl"].get<double>());
  EXPECT_EQ(h["manifest"]["dataset"]["identity"], "MNIST");

  const Checkpoint ck = load_checkpoint((dir / "checkpoint.safetensors").string());
  EXPECT_EQ(ck.config.latent, 2);
  ASSERT_TRUE(ck.adam.has_value());
  EXPECT_EQ(ck.adam->step, 240);
  EXPECT_EQ(ck.extra_metadata.at("epoch"), "2");

  for (const char* f : {"samples.png", "reconstructions.png", "interpolations.png", "latent_scatter.png", "manifold.png"}) {
    const Image img = read_png((dir / f).string());
    EXPECT_GT(img.width, 100) << f;
    // Not blank: even a small model after two epochs draws strokes on a dark background.
    int dark = 0, bright = 0;
    for (uint8_t v : img.pixels) {
      dark += v < 40;
      bright += v > 128;
    }
    EXPECT_GT(dark, 1000) << f;
    EXPECT_GT(bright, 50) << f;
  }
  remove_tree(dir);
}

// bf16 mixed precision trains as well as fp32, LibTorch's autocast against fp32 from the same
// seed. Two forms, because what bf16 costs on a CPU hangs on its bf16 instructions
// (libtorch/cpu_bf16.h): with AVX512-BF16/AMX and oneDNN, bf16 trains this model at 45-121 k
// samples/s; without them (an AVX2-only CPU: ATen's fallback GEMMs) at 1.0-1.6 k, where the full
// form took 19 of CI's 90 minutes (issue 35). Both catch the same planted mistake, master weights
// kept in bf16 (+3.3 nats at ten epochs, +10 in the bounded form); neither catches the KL computed
// in bf16 (|delta| <= 0.17 and 0.83 nats), which tests/test_mixed_precision.cpp catches per
// quantity (docs/ci-budget.md has the measurements).
double last_test_loss(const std::filesystem::path& dir) {
  return read_json(dir / "history.json")["epochs"].back()["test"]["loss"].get<double>();
}

// The test losses of fp32 and bf16 runs of `train ARGS --seed SEED`.
std::array<double, 2> fp32_and_bf16_test_loss(const std::string& args, int seed) {
  std::array<double, 2> loss{};
  for (int i = 0; i < 2; ++i) {
    const std::string precision = i ? "bf16" : "fp32";
    const auto dir = fresh_dir("train-" + precision + "-" + std::to_string(seed));
    const auto r = vaebench("train " + args + " --iw-samples 0 --no-pictures --seed " + std::to_string(seed) +
                            " --precision " + precision + " --out " + dir.string());
    EXPECT_EQ(r.status, 0) << r.output;
    loss[i] = r.status == 0 ? last_test_loss(dir) : std::nan("");
    remove_tree(dir);
  }
  return loss;
}

// The full form: ten epochs of the default model, seeds 0 and 1. Measured over seeds 0-4
// (reports/bf16-training-cpu.md): |bf16 - fp32| <= 0.19 nats, means 105.65 and 105.64, fp32's own
// seed-to-seed spread 0.30. Half a nat per seed is the bound. Where the CPU emulates bf16 it
// skips, naming why; the bounded form below runs there (and everywhere).
TEST(Train, Bf16ReachesTheFp32TestLossWithinHalfANat) {
  VAE_RELEASE_TIER_ONLY("ten epochs of the default model, twice per seed");
  const libtorch::CpuBf16Support& cpu = libtorch::cpu_bf16_support();
  if (!cpu.native)
    GTEST_SKIP() << "full form on a CPU with native bf16 only (" << libtorch::describe(cpu)
                 << "); Train.Bf16BoundedFormReachesTheFp32TestLossWithinOneAndAHalfNats runs instead";
  for (int seed : {0, 1}) {
    // One thread: beside another test on CI's two cores, LibTorch's two spinning threads per
    // process slowed this test from 104 s alone to past its 900 s timeout (measured); one
    // thread costs 20 % alone (22.5k samples/s in bf16 against 27.6k) and keeps it off the
    // other test's core.
    const auto [fp32, bf16] = fp32_and_bf16_test_loss("--epochs 10 --threads 1", seed);
    EXPECT_LT(fp32, 110.0) << "fp32 did not reach the published quality (seed " << seed << ")";
    EXPECT_NEAR(bf16, fp32, 0.5) << "seed " << seed << ": fp32 " << fp32 << ", bf16 " << bf16;
  }
}

// The bounded form: three epochs of a 784-100-20 MLP, seed 0, one thread (bf16 on an emulating
// CPU: ~27 s of the run's ~36 s, measured with oneDNN held to AVX2). Measured over seeds 0-4:
// |bf16 - fp32| <= 0.71 nats (fp32's seed spread 1.3: a shorter, smaller run is noisier), so the
// bound is 1.5; bf16 master weights give +9.6 to +10.7. It runs on every CPU, so it cannot rot
// where the full form runs; where it stands in for the full form it says so ("[bounded form]",
// which scripts/test lists).
TEST(Train, Bf16BoundedFormReachesTheFp32TestLossWithinOneAndAHalfNats) {
  VAE_RELEASE_TIER_ONLY("three epochs of a small model, twice");
  const libtorch::CpuBf16Support& cpu = libtorch::cpu_bf16_support();
  if (!cpu.native)
    std::cout << "[bounded form] Train.Bf16ReachesTheFp32TestLossWithinHalfANat: 3 epochs of 784-100-20 instead of "
                 "10 of 784-400-20 (" << libtorch::describe(cpu) << ")\n";
  const auto [fp32, bf16] = fp32_and_bf16_test_loss("--hidden 100 --epochs 3 --threads 1", 0);
  EXPECT_LT(fp32, 128.0) << "fp32 did not learn (measured 125.2-126.4 over seeds 0-4)";
  EXPECT_NEAR(bf16, fp32, 1.5) << "fp32 " << fp32 << ", bf16 " << bf16;
}

TEST(Train, ResumeGivesTheSameResultAsAnUninterruptedRun) {
  const auto straight = fresh_dir("straight"), resumed = fresh_dir("resumed");
  const std::string common = kSmall + " --no-pictures --iw-samples 0";
  ASSERT_EQ(vaebench("train " + common + " --epochs 2 --out " + straight.string()).status, 0);
  ASSERT_EQ(vaebench("train " + common + " --epochs 1 --out " + resumed.string()).status, 0);
  const auto r = vaebench("train --resume --epochs 2 --no-pictures --iw-samples 0 --threads 1 --out " + resumed.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resuming from "), std::string::npos) << r.output;
  const Checkpoint a = load_checkpoint((straight / "checkpoint.safetensors").string());
  const Checkpoint b = load_checkpoint((resumed / "checkpoint.safetensors").string());
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam->exp_avg, b.adam->exp_avg);
  const nlohmann::json ha = read_json(straight / "history.json"), hb = read_json(resumed / "history.json");
  EXPECT_EQ(ha["epochs"][1]["train"], hb["epochs"][1]["train"]);
  EXPECT_EQ(ha["epochs"][1]["test"], hb["epochs"][1]["test"]);
  EXPECT_EQ(hb["resumed_from_epoch"], 1);

  const auto mismatch = vaebench("train --resume --epochs 3 --batch 100 --out " + resumed.string());
  EXPECT_EQ(mismatch.status, 2);
  EXPECT_NE(mismatch.output.find("batch, seed, KL warm-up and binarization must stay the same"), std::string::npos)
      << mismatch.output;
  remove_tree(straight);
  remove_tree(resumed);
}

// Colour images (an image folder, 3 channels) give colour pictures: the model's output is
// planar (NCHW), the PNG interleaved, and a grey grid or one that read the planes as pixels
// would draw other colours. A folder this small also has fewer test images than the grids
// show (32 reconstructions, 16 interpolation ends); they are drawn from what there is.
TEST(Train, ColourImageFolderGivesColourPictures) {
  const auto dir = fresh_dir("rgb-train"), images = fresh_dir("rgb-images");
  std::vector<std::string> test_names;
  std::vector<Image> test_images;
  for (int k = 0; k < 60; ++k) {
    Image img(8, 8, 3, 0);
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        uint8_t* p = img.at(x, y);
        p[0] = uint8_t(4 * k), p[1] = uint8_t(30 * x), p[2] = uint8_t(30 * y);  // red: the image; green, blue: where
      }
    char name[32];
    std::snprintf(name, sizeof name, "img%03d.png", k);
    write_png((images / name).string(), img);
    if (is_test_image_name(name)) test_names.push_back(name), test_images.push_back(img);
  }
  ASSERT_GE(test_images.size(), 2u) << "the file-name split put fewer than 2 of 60 images in the test split";
  const auto r = vaebench("train --dataset images:" + images.string() + " --image-size 8 --image-crop 8 "
                          "--input-shape 3x8x8 --encoder conv4k4s2p1:relu --decoder dense4x4x4:none,convT3k4s2p1:none "
                          "--latent 2 --batch 9 --epochs 1 --iw-samples 0 --threads 1 --out " + dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* f : {"samples.png", "reconstructions.png", "interpolations.png"})
    EXPECT_EQ(read_png((dir / f).string()).channels, 3) << f;
  // The reconstructions' first row: the test images themselves (names in bytewise order), pad 2.
  const Image recon = read_png((dir / "reconstructions.png").string());
  ASSERT_EQ(recon.width, 2 + int(std::min<size_t>(8, test_images.size())) * (8 + 2));
  for (size_t k = 0; k < std::min<size_t>(8, test_images.size()); ++k)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x)
        for (int c = 0; c < 3; ++c)
          ASSERT_EQ(recon.at(2 + int(k) * 10 + x, 2 + y)[c], test_images[k].at(x, y)[c])
              << test_names[k] << " (" << x << ", " << y << ") channel " << c;
  remove_tree(dir);
  remove_tree(images);
}

// A model with batch norm: its running statistics are model state. They are in the checkpoint
// under nn.BatchNorm2d's names, counted per step; --resume restores them (else the resumed run's
// evaluation and its later updates part from the straight run's); the test loss of the history
// is evaluation's, normalised by them and not by the test batch's statistics.
TEST(Train, BatchNormRunningStatisticsAreCheckpointedResumedAndEvaluatedBy) {
  const auto straight = fresh_dir("bn-straight"), resumed = fresh_dir("bn-resumed");
  const std::string common = "--encoder conv4k4s2p1+bn:relu --decoder dense4x14x14:none,convT1k4s2p1:none "
                             "--latent 2 --batch 500 --threads 1 --no-pictures --iw-samples 0";
  ASSERT_EQ(vaebench("train " + common + " --epochs 2 --out " + straight.string()).status, 0);
  ASSERT_EQ(vaebench("train " + common + " --epochs 1 --out " + resumed.string()).status, 0);
  const auto r = vaebench("train " + common + " --resume --epochs 2 --out " + resumed.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const Checkpoint a = load_checkpoint((straight / "checkpoint.safetensors").string());
  const Checkpoint b = load_checkpoint((resumed / "checkpoint.safetensors").string());
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.running_stats, b.running_stats);
  const nlohmann::json ha = read_json(straight / "history.json"), hb = read_json(resumed / "history.json");
  EXPECT_EQ(ha["epochs"][1]["test"], hb["epochs"][1]["test"]);

  const ParamLayout layout(a.config);
  const BufferLayout& buffers = layout.model().buffers();
  ASSERT_EQ(a.running_stats.size(), buffers.total());
  EXPECT_EQ(a.running_stats[buffers.view("enc.0.bn.num_batches_tracked").offset], 240.0);  // 2 x 120 steps
  const BufferView& var = buffers.view("enc.0.bn.running_var");
  for (size_t i = var.offset; i < var.offset + var.size; ++i) EXPECT_NE(a.running_stats[i], 1.0) << "not updated";
  // The file holds them as a PyTorch state_dict does.
  const SafetensorsFile f = read_safetensors((straight / "checkpoint.safetensors").string());
  EXPECT_EQ(f.at("enc.0.bn.num_batches_tracked").dtype, DType::I64);
  EXPECT_EQ(f.at("enc.0.bn.running_mean").shape, (std::vector<int64_t>{4}));

  // The history's test loss is the evaluation by the checkpoint's running statistics; by the
  // initial ones (what ignoring them amounts to at the start) it is another number.
  const Dataset mnist = load_dataset(VAE_SOURCE_DIR "/data/mnist", DatasetKind::Mnist);
  const Evaluator evaluator(a.config, "cpu", torch::kFloat32);
  const uint64_t seed = ha["training"]["seed"].get<uint64_t>();
  const Binarize binarize = parse_binarize(ha["training"]["binarize"].get<std::string>());
  const TestMetrics by_running = evaluator.test_metrics({a.params, a.running_stats}, mnist.test, binarize, seed, seed + 1);
  const TestMetrics by_initial =
      evaluator.test_metrics({a.params, buffers.initial_values()}, mnist.test, binarize, seed, seed + 1);
  EXPECT_NEAR(by_running.loss, ha["epochs"][1]["test"]["loss"].get<double>(), 1e-9 * by_running.loss);
  EXPECT_GT(std::abs(by_initial.loss - by_running.loss), 1.0);
  EXPECT_THROW(evaluator.test_metrics({a.params, {}}, mnist.test, binarize, seed, seed + 1), Error);
  remove_tree(straight);
  remove_tree(resumed);
}

// Crash safety: the process is SIGKILLed in the middle of writing its 2nd checkpoint (the
// fault-injection hook in io/atomic_file.cpp leaves that temporary file half written), and
// again at random moments of later runs. After every kill the checkpoint on disk must load
// (it is the last complete one), and resuming until done must give, bit for bit, what an
// uninterrupted run gives.
TEST(Train, KillDuringCheckpointWriteLeavesALoadableCheckpointAndResumeIsExact) {
  const auto straight = fresh_dir("crash-straight"), killed = fresh_dir("crash-killed");
  const std::string common = kSmall + " --no-pictures --iw-samples 0";
  ASSERT_EQ(vaebench("train " + common + " --epochs 4 --out " + straight.string()).status, 0);

  const std::string ck = (killed / "checkpoint.safetensors").string();
  const auto r = testing::run("VAE_FAULT_KILL_WRITE=checkpoint.safetensors:2 " + std::string(VAEBENCH_EXE) + " train " +
                              common + " --epochs 4 --out " + killed.string());
  // Killed: pclose reports a signal (-1 here), or the shell reports 128 + 9.
  EXPECT_TRUE(r.status == -1 || r.status == 137) << "expected death by SIGKILL, got " << r.status << ": " << r.output;
  int temporaries = 0;
  for (const auto& e : std::filesystem::directory_iterator(killed))
    temporaries += e.path().filename().string().find(".tmp.") != std::string::npos;
  EXPECT_EQ(temporaries, 1) << "the half-written temporary file should be there";
  ASSERT_EQ(read_json(killed / "history.json")["epochs"].size(), 1u);
  EXPECT_NO_THROW(load_checkpoint(ck));  // the complete checkpoint of epoch 1

  // Random kills of resumed runs (seeded, so a failure reproduces), then a run to the end.
  std::mt19937 rng(12345);
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int delay_ms = std::uniform_int_distribution<int>(300, 2500)(rng);
    testing::run("timeout -s KILL " + std::to_string(delay_ms / 1000.0) + " " + std::string(VAEBENCH_EXE) +
                 " train --resume --epochs 4 --no-pictures --iw-samples 0 --threads 1 --out " + killed.string());
    EXPECT_NO_THROW(load_checkpoint(ck)) << "after a kill at " << delay_ms << " ms";
  }
  const auto done = vaebench("train --resume --epochs 4 --no-pictures --iw-samples 0 --threads 1 --out " + killed.string());
  ASSERT_EQ(done.status, 0) << done.output;
  const Checkpoint a = load_checkpoint((straight / "checkpoint.safetensors").string());
  const Checkpoint b = load_checkpoint(ck);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam->exp_avg, b.adam->exp_avg);
  EXPECT_EQ(a.adam->exp_avg_sq, b.adam->exp_avg_sq);
  const nlohmann::json ha = read_json(straight / "history.json"), hb = read_json(killed / "history.json");
  ASSERT_EQ(hb["epochs"].size(), 4u);
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(ha["epochs"][e]["train"], hb["epochs"][e]["train"]) << "epoch " << e + 1;
    EXPECT_EQ(ha["epochs"][e]["test"], hb["epochs"][e]["test"]) << "epoch " << e + 1;
  }
  remove_tree(straight);
  remove_tree(killed);
}

// A batch too large for the memory there is: a clear message with the size, exit 2, no crash.
// The address space is capped (ulimit -v, 5 GB: LibTorch itself maps about 3) so the CPU
// allocator fails the way a full GPU does. Under AddressSanitizer, which reserves terabytes
// of shadow address space at start-up, ASan's own allocator refuses any single allocation
// over 512 MB instead (the 60000 x 4000 activations need 960 MB).
#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kMemoryCap = "ASAN_OPTIONS=\"$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=512\" ";
#else
constexpr const char* kMemoryCap = "ulimit -v 5000000; ";
#endif
TEST(Train, BatchTooLargeForMemoryGivesAClearMessage) {
  const auto dir = fresh_dir("oom");
  const auto r = testing::run(std::string(kMemoryCap) + VAEBENCH_EXE +
                              " train --hidden 4000 --batch 60000 --epochs 1 --iw-samples 0 --no-pictures --threads 1"
                              " --out " + dir.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("libtorch-eager on cpu: out of memory at batch 60000: the step needs about"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("use a smaller --batch"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.safetensors"));
  remove_tree(dir);
}

// Every CPU backend detects non-finite values itself (first_nonfinite), so each is driven
// into divergence: one good epoch, then --lr 1e12 from its checkpoint.
TEST(Train, DivergenceStopsWithTheStepAndKeepsTheLastGoodCheckpoint) {
  for (const std::string backend : {"libtorch-eager", "torchscript", "reference"}) {
    SCOPED_TRACE(backend);
    const auto dir = fresh_dir("diverge-" + backend);
    const std::string precision = backend == "reference" ? "fp64" : "fp32";
    const std::string common = kSmall + " --backend " + backend + " --precision " + precision +
                               " --no-pictures --iw-samples 0 --out " + dir.string();
    ASSERT_EQ(vaebench("train " + common + " --epochs 1").status, 0);
    const std::string before = bytes_of(dir / "checkpoint.safetensors");
    const auto r = vaebench("train " + common + " --resume --epochs 3 --lr 1e12");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("training diverged at step "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("non-finite "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("the last good checkpoint is "), std::string::npos) << r.output;
    EXPECT_EQ(bytes_of(dir / "checkpoint.safetensors"), before);
    EXPECT_NO_THROW(load_checkpoint((dir / "checkpoint.safetensors").string()));
    const nlohmann::json h = read_json(dir / "history.json");
    ASSERT_FALSE(h["diverged"].is_null());
    // Epoch 1 is 120 steps of 500 images; the first step at lr 1e12 makes the parameters
    // huge, and the value is non-finite within a few steps after it.
    EXPECT_GT(h["diverged"]["step"].get<int64_t>(), 120);
    EXPECT_LE(h["diverged"]["step"].get<int64_t>(), 125);
    EXPECT_EQ(h["diverged"]["epoch"], 2);
    remove_tree(dir);
  }
}

TEST(Train, BadOptionsAreRefused) {
  const auto dir = fresh_dir("train-bad");
  const std::pair<std::string, std::string> cases[] = {
      {"--epochs 0", "--epochs: must be >= 1"},
      {"--backend nope", "--backend: unknown backend 'nope'"},
      {"--backend libtorch-cudagraph", "not usable here"},
      {"--resume", "--resume: no checkpoint at "},
      {"--precision fp16", "--precision: unknown precision 'fp16', choose from: fp64, fp32, tf32, bf16"},
      {"--precision tf32", "--precision tf32: not offered by backend libtorch-eager on cpu (tf32 is a tensor-core format"},
      {"--backend reference --precision bf16", "--precision bf16: not offered by backend reference on cpu; choose from: fp64"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = vaebench("train " + args + " --out " + dir.string());
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
  }
  remove_tree(dir);
}

}  // namespace
}  // namespace vae
