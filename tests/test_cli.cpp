// The vaebench command end to end: subcommands run, bad options are refused with a clear
// message and exit status 2, and --export files are reproduced by an independent PyTorch
// float64 autograd implementation (scripts/crosscheck_export.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "command_runner.h"
#include "sanitizer_tier.h"
#include "io/safetensors.h"

namespace {

using vae::testing::CommandResult;
using vae::testing::fresh_dir;
using vae::testing::run;
using vae::testing::vaebench;

TEST(Cli, IllegalModelOptionsAreRefusedWithTheOptionNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"--latent 0", "--latent: 0 is out of range"},
      {"--hidden 400,0", "--hidden: layer width 0 is out of range"},
      {"--hidden abc", "--hidden: 'abc' is not a comma-separated list"},
      {"--decoder-hidden 3,", "--decoder-hidden: '3,' is not a comma-separated list"},
      {"--activation gelu", "--activation: unknown value 'gelu', expected relu|tanh"},
      {"--likelihood poisson", "--likelihood: unknown value 'poisson'"},
      {"--init he", "--init: unknown value 'he'"},
      {"--beta -1", "--beta: must be a finite number >= 0"},
      {"--samples 0", "--samples: K must be in"},
      {"--batch 0", "--batch: 0 is out of range"},
      {"--dataset cifar", "--dataset: unknown value 'cifar'"},
      {"--binarize maybe", "--binarize: unknown value 'maybe'"},
  };
  for (const auto& [args, message] : cases) {
    const CommandResult r = vaebench(std::string("validate ") + args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
  }
}

// Models given as layers: bad stacks are refused naming the option, the layer and what fits.
TEST(Cli, BadLayerOptionsAreRefusedNamingTheLayerAndWhatFits) {
  const std::pair<const char*, const char*> cases[] = {
      {"--model conv-cifar", "unknown"},
      {"--encoder conv32k4s2p1:relu", "--encoder given without --decoder"},
      {"--model conv-mnist --encoder conv8k3s1p0:relu --decoder dense784:none", "give one of them"},
      {"--encoder conv32k4s2:relu --decoder dense784:none", "--encoder"},
      // The seed ConvVAE's decoder as printed: 3 -> 6 -> 12 -> 24, not 28.
      {"--encoder conv32k4s2p1:relu,conv64k4s2p1:relu,conv128k4s2p1:relu "
       "--decoder dense128x3x3:none,convT64k4s2p1:relu,convT32k4s2p1:relu,convT1k4s2p1:none",
       "output_padding 1 on decoder layer 1 gives 3->7->14->28"},
      {"--model conv-celeba64", "--model conv-celeba64: its input 3x64x64 has 12288 values per image, the data has 784"},
  };
  for (const auto& [args, message] : cases) {
    const CommandResult r = vaebench(std::string("validate --no-training-path ") + args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
  }
}

// A stack given on the command line is validated like a preset; every backend runs the
// convolutional models now (fused-cuda too, issue 21), and `backends` lists none as unsupported.
TEST(Cli, ConvolutionalStacksValidateOnEveryBackend) {
  const CommandResult r = vaebench(
      "validate --backend libtorch-eager --device cpu --no-training-path --batch 3 --latent 4 "
      "--encoder conv4k3s2p1:relu,conv6k3s1p0+bn:tanh --decoder dense6x14x14:none,convT3k4s2p1:relu,conv1k3s1p1:none");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("custom 1x28x28 | conv4k3s2p1:relu,conv6k3s1p0+bn:tanh | z4"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("FAIL"), std::string::npos) << r.output;
  if (!vae::testing::kSanitizerBuild) {  // the backend matrix runs it there (conv-mnist-b1)
    const CommandResult fused =
        vaebench("validate --backend fused-cuda --device cuda-emu --no-training-path --model conv-mnist --batch 2");
    EXPECT_EQ(fused.status, 0) << fused.output;
    EXPECT_NE(fused.output.find("PASS fused-cuda (cuda-emu, fp32): 1/1"), std::string::npos) << fused.output;
  }
  const CommandResult listed = vaebench("backends --model conv-celeba64");
  EXPECT_EQ(listed.status, 0) << listed.output;
  EXPECT_EQ(listed.output.find("not supported for this model"), std::string::npos) << listed.output;
}

// vaebench-kernels check: a given conv layer and batch norm pass on the CPU executor; a batch
// norm that training refuses (one value per channel) and options of another family are refused
// (exit status 2) naming what is wrong.
TEST(KernelsTool, ChecksTheGivenLayersAndNamesWhatIsWrong) {
  const auto kernels = [](const std::string& args) { return run(std::string(VAEBENCH_KERNELS_EXE) + " " + args); };
  const CommandResult conv = kernels("check --device cuda-emu --family conv --version 4 --conv-shape 2:3x5x9:convT7k3s2p1o1:tanh");
  EXPECT_EQ(conv.status, 0) << conv.output;
  EXPECT_NE(conv.output.find("v4 tf32-wmma"), std::string::npos) << conv.output;
  EXPECT_NE(conv.output.find("2:3x5x9:convT7k3s2p1o1:tanh"), std::string::npos) << conv.output;
  EXPECT_NE(conv.output.find("checks, 0 failed: PASS"), std::string::npos) << conv.output;
  const CommandResult bn = kernels("check --device cuda-emu --family batch_norm --bn-shape 2:3:5:relu --seeds 2");
  EXPECT_EQ(bn.status, 0) << bn.output;
  EXPECT_NE(bn.output.find("num_batches_tracked"), std::string::npos) << bn.output;
  const CommandResult one = kernels("check --device cuda-emu --family batch_norm --bn-shape 1:2:1");
  EXPECT_EQ(one.status, 2) << one.output;
  EXPECT_NE(one.output.find("Expected more than 1 value per channel when training"), std::string::npos) << one.output;
  const CommandResult shape = kernels("check --device cuda-emu --family conv --shape 1,2,3");
  EXPECT_EQ(shape.status, 2) << shape.output;
  EXPECT_NE(shape.output.find("--shape M,N,K is for --family gemm"), std::string::npos) << shape.output;
  const CommandResult all = kernels("check --device cuda-emu --family all --version 2");
  EXPECT_EQ(all.status, 2) << all.output;
  EXPECT_NE(all.output.find("--version is for one --family"), std::string::npos) << all.output;
  const CommandResult bad = kernels("check --device cuda-emu --family conv --conv-shape 2:3x5x9:dense7:relu");
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("one conv or convT layer"), std::string::npos) << bad.output;
  // bench times on a GPU only, and batch norm not on its own; each refusal names why.
  const CommandResult emu = kernels("bench --device cuda-emu --family conv --cudnn");
  EXPECT_EQ(emu.status, 2) << emu.output;
  EXPECT_NE(emu.output.find("refusing to time on the CPU executor"), std::string::npos) << emu.output;
  const CommandResult bn_bench = kernels("bench --family batch_norm");
  EXPECT_EQ(bn_bench.status, 2) << bn_bench.output;
  EXPECT_NE(bn_bench.output.find("per-kernel profile"), std::string::npos) << bn_bench.output;
}

TEST(Cli, MissingDataNamesTheFile) {
  const CommandResult r = vaebench("info --data /nonexistent/mnist");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("/nonexistent/mnist/train-images-idx3-ubyte.gz: missing"), std::string::npos) << r.output;
}

TEST(Cli, InfoReportsVerifiedMnistAndVersions) {
  const CommandResult r = vaebench("info");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("MNIST (SHA-256 verified)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("torch     2.11.0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"), std::string::npos);
  const CommandResult j = vaebench("info --json");
  ASSERT_EQ(j.status, 0) << j.output;
  const nlohmann::json m = nlohmann::json::parse(j.output);
  EXPECT_EQ(m["dataset"]["identity"], "MNIST");
  EXPECT_EQ(m["dataset"]["verified"], true);
  EXPECT_EQ(m["git_sha"].get<std::string>().size(), 40u);
}

// What the CPU does for bf16 is in `info` and every manifest (bench JSON, history, report):
// a CPU bf16 figure is labelled native or emulated by it, and the bf16 checks' tier follows it.
// VAE_CPU_BF16 forces the tier (and says so); a wrong value is refused naming the variable.
TEST(Cli, InfoSaysWhatTheCpuDoesForBf16) {
  const CommandResult r = vaebench("info --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json b = nlohmann::json::parse(r.output)["cpu_bf16"];
  for (const char* k : {"tier", "hardware", "avx512_bf16", "amx_bf16", "aten_cpu_capability", "onednn_bf16", "reason"})
    EXPECT_TRUE(b.contains(k)) << k << " missing from " << b.dump();
  EXPECT_EQ(b["tier"], b["hardware"]) << "unforced, the tier is the hardware's";
  EXPECT_EQ(b["forced_by"], "");
  const CommandResult forced = run("VAE_CPU_BF16=emulated " + std::string(VAEBENCH_EXE) + " info");
  ASSERT_EQ(forced.status, 0) << forced.output;
  EXPECT_NE(forced.output.find("bf16      emulated on the CPU: forced by VAE_CPU_BF16=emulated"), std::string::npos)
      << forced.output;
  const CommandResult bad = run("VAE_CPU_BF16=fast " + std::string(VAEBENCH_EXE) + " info");
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("VAE_CPU_BF16='fast': expected 'native' or 'emulated'"), std::string::npos) << bad.output;
}

// Binaries carried to the GPU machine (scripts/gpu) run outside any git checkout: the
// manifest then gives the commit recorded when they were packed.
TEST(Cli, ManifestOutsideGitGivesThePackedCommit) {
  const std::string no_git = "GIT_DIR=/nonexistent GIT_CEILING_DIRECTORIES=/ ";
  const CommandResult packed = run(no_git + "VAE_PACKED_GIT_SHA=0123456789abcdef0123456789abcdef01234567 "
                                            "VAE_PACKED_GIT_DIRTY=false " + VAEBENCH_EXE + " info --json");
  ASSERT_EQ(packed.status, 0) << packed.output;
  const nlohmann::json m = nlohmann::json::parse(packed.output);
  EXPECT_EQ(m["git_sha"], "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(m["git_dirty"], false);
  const CommandResult bare = run(no_git + VAEBENCH_EXE + " info --json");
  ASSERT_EQ(bare.status, 0) << bare.output;
  EXPECT_EQ(nlohmann::json::parse(bare.output)["git_dirty"], "unknown");
}

TEST(Cli, BackendsListsEveryBackendWithItsDevices) {
  const CommandResult r = vaebench("backends");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* name : {"reference: ", "libtorch-eager: ", "torchscript: ", "libtorch-cudagraph: "})
    EXPECT_NE(r.output.find(name), std::string::npos) << name << "\n" << r.output;
  EXPECT_NE(r.output.find("  cpu: usable"), std::string::npos) << r.output;
  // The CUDA-graph backend runs on CUDA only: usable, or compiled with the reason it is not.
  const size_t graph = r.output.find("libtorch-cudagraph: ");
  ASSERT_NE(graph, std::string::npos);
  const std::string rest = r.output.substr(graph);
  EXPECT_TRUE(rest.find("  cuda: usable") != std::string::npos ||
              rest.find("  cuda: compiled, not usable here: ") != std::string::npos)
      << rest;
}

TEST(Cli, UnavailableBackendsAndDevicesFailWithWhatThereIs) {
  const CommandResult unknown = vaebench("validate --backend nope");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("--backend: unknown backend 'nope', this build has: reference, libtorch-eager, "
                                "torchscript, libtorch-cudagraph"),
            std::string::npos)
      << unknown.output;
  const CommandResult graph_on_cpu = vaebench("validate --backend libtorch-cudagraph --device cpu");
  EXPECT_EQ(graph_on_cpu.status, 2);
  EXPECT_NE(graph_on_cpu.output.find("--backend libtorch-cudagraph --device cpu: not usable here"), std::string::npos)
      << graph_on_cpu.output;
  const CommandResult bad_precision = vaebench("validate --backend libtorch-eager --precision fp8 --case latent2-b1");
  EXPECT_EQ(bad_precision.status, 2);
  EXPECT_NE(bad_precision.output.find("--precision"), std::string::npos) << bad_precision.output;
  const CommandResult bad_case = vaebench("validate --case nope");
  EXPECT_EQ(bad_case.status, 2);
  EXPECT_NE(bad_case.output.find("--case: no case named 'nope' in either matrix; cases: default-b1, default-b128"), std::string::npos)
      << bad_case.output;
}

TEST(Cli, ValidateOneConfigurationWritesJsonAndExportsAnIndependentlyReproducibleCase) {
  const auto dir = fresh_dir("export");
  const std::string json = (dir / "validation.json").string();
  const CommandResult r = vaebench("validate --hidden 33,17 --decoder-hidden 19 --latent 7 --activation tanh "
                         "--likelihood gaussian --beta 0.5 --samples 2 --batch 3 --seed 11 --init xavier "
                         "--json " + json + " --export " + dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("PASS reference (cpu, fp64): 1/1"), std::string::npos) << r.output;
  // The configuration's matrix case and its training-path case.
  EXPECT_NE(r.output.find("PASS libtorch-eager (cpu, fp32): 2/2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PASS torchscript (cpu, fp32): 2/2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("case train-custom-b3: 784-[33,17]-7-[19] tanh gaussian"), std::string::npos) << r.output;

  std::ifstream in(json);
  const nlohmann::json doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["passed"], true);
  ASSERT_EQ(doc["backends"]["reference"]["cases"].size(), 1u);
  const auto& c = doc["backends"]["reference"]["cases"][0];
  EXPECT_EQ(c["config"]["hidden"], nlohmann::json({33, 17}));
  EXPECT_EQ(c["config"]["batch"], 3);
  EXPECT_EQ(doc["manifest"]["dataset"]["identity"], "MNIST");
  for (const char* b : {"libtorch-eager", "torchscript"}) {
    EXPECT_EQ(doc["backends"][b]["passed"], true) << b;
    EXPECT_EQ(doc["backends"][b]["precision"], "fp32") << b;
    ASSERT_EQ(doc["backends"][b]["cases"].size(), 2u) << b;
    EXPECT_EQ(doc["backends"][b]["cases"][1]["name"], "train-custom-b3") << b;
  }

  const vae::SafetensorsFile f = vae::read_safetensors((dir / "custom-b3.safetensors").string());
  const nlohmann::json cfg = nlohmann::json::parse(f.metadata.at("config"));
  for (const char* key : {"hidden", "decoder_hidden", "latent", "activation", "likelihood", "beta", "samples",
                          "batch", "seed"})
    EXPECT_TRUE(cfg.contains(key)) << key;
  EXPECT_EQ(f.at("x").shape, (std::vector<int64_t>{3, 784}));
  EXPECT_EQ(f.at("eps").shape, (std::vector<int64_t>{2, 3, 7}));
  EXPECT_EQ(f.at("param.dec.0.weight").shape, (std::vector<int64_t>{19, 7}));
  EXPECT_EQ(f.at("grad.enc.1.weight").shape, (std::vector<int64_t>{17, 33}));
  EXPECT_EQ(f.at("out.elbo").shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(f.at("backend.libtorch-eager.out.kl").shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(f.at("backend.torchscript.grad.enc.1.weight").shape, (std::vector<int64_t>{17, 33}));

  if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON) for the cross-check";
  const CommandResult check = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/scripts/crosscheck_export.py " + dir.string());
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_NE(check.output.find("1 passed, 0 failed"), std::string::npos) << check.output;
  std::filesystem::remove_all(dir);
}

// The fused-cuda kernels on the CPU executor, on hold-out shapes of both fused paths: a latent
// too wide for the heads GEMM's epilogue (2Z = 80 > 64: latent::forward runs after it) with
// K = 3 and ReLU, and a narrow one in tf32 with tanh, a Gaussian likelihood and one image.
TEST(Cli, FusedCudaOnTheCpuExecutorPassesHoldOutShapesAndItsExportReproduces) {
  struct HoldOut {
    std::string options, precision;
  };
  const std::vector<HoldOut> hold_outs = {
      {"--hidden 37,23 --decoder-hidden 29 --latent 40 --samples 3 --activation relu --beta 0.7 --batch 6 --seed 5", "fp32"},
      {"--hidden 50 --latent 3 --activation tanh --likelihood gaussian --beta 2 --samples 2 --batch 1 --seed 8", "tf32"},
      // Convolutional stacks (the Release build only: 45 s under ASan, where the backend
      // matrix runs fused-cuda's conv-mnist and conv-bn-k3 cases): k3 s1 p0 and k5 s2 p2 down
      // (28 -> 26 -> 13), batch norm on both sides, output padding, K = 2; then a dense layer
      // between convs, a k6 s4 transposed conv as the output layer, the Gaussian likelihood, tf32.
      {"--encoder conv5k3s1p0:relu,conv7k5s2p2+bn:tanh --decoder dense6x7x7:none,convT5k3s2p1o1+bn:relu,convT1k4s2p1:none "
       "--latent 5 --samples 2 --beta 0.5 --batch 3 --seed 4",
       "fp32"},
      {"--encoder conv6k4s2p1:tanh,dense30:tanh --decoder dense24:tanh,dense6x7x7:none,convT1k6s4p1:none --latent 4 "
       "--likelihood gaussian --batch 2 --seed 9",
       "tf32"}};
  for (const HoldOut& h : hold_outs) {
    if (vae::testing::kSanitizerBuild && h.options.rfind("--encoder", 0) == 0) {
      std::cout << "[sanitizer tier] the convolutional hold-out '" << h.options << "' runs in the Release build\n";
      continue;
    }
    SCOPED_TRACE(h.options);
    const auto dir = fresh_dir("fused-hold-out");
    const CommandResult r = vaebench("validate --backend fused-cuda --device cuda-emu --precision " + h.precision + " " +
                                     h.options + " --export " + dir.string());
    ASSERT_EQ(r.status, 0) << r.output;
    // The configuration's matrix case and its training-path case.
    EXPECT_NE(r.output.find("PASS fused-cuda (cuda-emu, " + h.precision + "): 2/2"), std::string::npos) << r.output;
    if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON) for the cross-check";
    const CommandResult check = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/scripts/crosscheck_export.py " + dir.string());
    EXPECT_EQ(check.status, 0) << check.output;
    EXPECT_NE(check.output.find("1 passed, 0 failed"), std::string::npos) << check.output;
    std::filesystem::remove_all(dir);
  }
}

TEST(Cli, CrosscheckCatchesATamperedExport) {
  const auto dir = fresh_dir("tamper");
  ASSERT_EQ(vaebench("validate --hidden 16 --latent 4 --batch 2 --export " + dir.string()).status, 0);
  const std::string path = (dir / "custom-b2.safetensors").string();
  vae::SafetensorsFile f = vae::read_safetensors(path);
  for (vae::Tensor& t : f.tensors)
    if (t.name == "grad.enc.mu.bias") {
      std::vector<double> g = t.to_double();
      g[0] += 1e-6 * (1 + std::abs(g[0]));
      t = vae::Tensor::from(t.name, t.shape, g.data());
    }
  vae::write_safetensors(path, f);
  const CommandResult check = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/scripts/crosscheck_export.py " + dir.string());
  EXPECT_EQ(check.status, 1) << check.output;
  EXPECT_NE(check.output.find("grad.enc.mu.bias"), std::string::npos) << check.output;
  std::filesystem::remove_all(dir);
}

TEST(Cli, CrosscheckCatchesATamperedBackendOutput) {
  const auto dir = fresh_dir("tamper-backend");
  ASSERT_EQ(vaebench("validate --backend libtorch-eager --hidden 16 --latent 4 --batch 2 --export " + dir.string()).status, 0);
  const std::string path = (dir / "custom-b2.safetensors").string();
  vae::SafetensorsFile f = vae::read_safetensors(path);
  for (vae::Tensor& t : f.tensors)
    if (t.name == "backend.libtorch-eager.out.recon") {
      std::vector<double> v = t.to_double();
      v[1] *= 1.001;  // far outside fp32 rounding, well inside what a careless check would accept
      t = vae::Tensor::from(t.name, t.shape, v.data());
    }
  vae::write_safetensors(path, f);
  const CommandResult check = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/scripts/crosscheck_export.py " + dir.string());
  EXPECT_EQ(check.status, 1) << check.output;
  EXPECT_NE(check.output.find("backend.libtorch-eager.out.recon"), std::string::npos) << check.output;
  std::filesystem::remove_all(dir);
}

// Declared objectives through the executables: `validate --export` under pythae's objective and
// under pytorch/examples' clamped continuous Bernoulli with PyTorch-VAE's batch/N KL weight
// (reference and libtorch-eager), recomputed by the cross-check from docs/case-format.md's
// formulas; a bf16 export judged at bf16's bounds (it failed at the fp32 figure before the
// export carried them); bad objective options refused naming the option; the catalogue listed.
TEST(Cli, ObjectivesThroughValidateExportTheCrosscheckAndTheirRefusals) {
  if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON) for the cross-check";
  for (const std::string options : {"--likelihood gaussian --gaussian-constant off --batch-reduction mean",
                                    "--likelihood continuous-bernoulli --prob-clamp 1e-4 --kl-weight batch/60000",
                                    "--precision bf16",
                                    "--encoder dense16:leaky_relu0.2,dense12:elu --decoder dense12:silu,dense784:none"}) {
    SCOPED_TRACE(options);
    const auto dir = fresh_dir("objective");
    const CommandResult r =
        vaebench("validate --backend libtorch-eager --hidden 16 --latent 4 --batch 3 " + options + " --export " + dir.string());
    ASSERT_EQ(r.status, 0) << r.output;
    const CommandResult check = run(std::string(VAE_PYTHON) + " " VAE_SOURCE_DIR "/scripts/crosscheck_export.py " + dir.string());
    EXPECT_EQ(check.status, 0) << check.output;
    EXPECT_NE(check.output.find("1 passed, 0 failed"), std::string::npos) << check.output;
    std::filesystem::remove_all(dir);
  }
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--likelihood gaussian --prob-clamp 1e-4", "--prob-clamp: clamps probabilities"},
           {"--batch-reduction avg", "--batch-reduction: unknown value 'avg'"},
           {"--likelihood bernoulli --sigma 2", "--sigma: only for --likelihood gaussian"},
           {"--kl-weight batch/0", "--kl-weight"}}) {
    const CommandResult e = vaebench("validate --hidden 16 --latent 4 --batch 3 " + args);
    EXPECT_EQ(e.status, 2) << args << "\n" << e.output;
    EXPECT_NE(e.output.find(message), std::string::npos) << args << "\n" << e.output;
  }
  // Training under a declared objective: the same loss and gradient as validated; no
  // importance-weighted NLL (not a log-likelihood), said, or refused when asked for.
  const auto tdir = fresh_dir("train-objective");
  const std::string train = "train --hidden 16 --latent 4 --epochs 1 --no-pictures --batch-reduction mean --out " +
                            tdir.string();
  const CommandResult tr = vaebench(train);
  EXPECT_EQ(tr.status, 0) << tr.output;
  EXPECT_NE(tr.output.find("note: no importance-weighted NLL for the objective batch=mean"), std::string::npos)
      << tr.output;
  const CommandResult iw = vaebench(train + " --iw-samples 10");
  EXPECT_EQ(iw.status, 2) << iw.output;
  EXPECT_NE(iw.output.find("--iw-samples: the importance-weighted NLL is computed"), std::string::npos) << iw.output;
  std::filesystem::remove_all(tdir);
    // A backend that runs the default objective only says so for each case, which fails.
  const CommandResult ts = vaebench("validate --hidden 16 --latent 4 --batch 3 --backend torchscript --batch-reduction mean");
  EXPECT_EQ(ts.status, 1) << ts.output;
  EXPECT_NE(ts.output.find("torchscript runs the default objective only"), std::string::npos) << ts.output;
  const CommandResult m = vaebench("mistakes --json --hidden 16 --latent 4 --batch 3 --beta 2");
  ASSERT_EQ(m.status, 0) << m.output;
  const nlohmann::json list = nlohmann::json::parse(m.output);
  bool listed = false;
  for (const nlohmann::json& k : list)
    listed |= k["name"] == "kl-mean-over-latent" && k["formula"].get<std::string>().find("KL / 4 (Z)") != std::string::npos;
  EXPECT_TRUE(listed) << m.output;
}

}  // namespace
