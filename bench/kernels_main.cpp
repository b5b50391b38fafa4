// vaebench-kernels: our CUDA kernels, checked and timed one family at a time.
//
//   vaebench-kernels check [--device cuda|cuda-emu] [--family gemm|conv|batch_norm|all] [--version N]
//                          [--shape M,N,K]... [--activation A] [--seeds S]
//                          [--conv-shape B:CxHxW:layer]... [--bn-shape B:C:HW:act]... [--batch B]
//       every version against a double-precision reference, on the default model's layer
//       shapes and odd shapes (or the given ones); conv / batch_norm: every preset's layers of
//       the family at --batch and odd cases (or the given ones); a table, exit 1 on any failure.
//   vaebench-kernels bench [same selection] [--cublas] [--cudnn] [--benchmark_* ...]
//       Google Benchmark on a GPU with CUDA-event timing, each version validated first; gemm,
//       conv, or all (both, one run; batch_norm is timed inside the step profile only);
//       --cublas adds cuBLAS's bare products (fp32, TF32, bf16), --cudnn LibTorch's
//       convolutions (cuDNN, fp32 with TF32 off, and tf32) as comparisons. The conv layers run at
//       --batch (default 128 for bench: the launch-bound batch).
#include <algorithm>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "kernels_commands.h"

// The families the tool checks, in the order `--family all` runs them.
constexpr const char* kFamilies[] = {"gemm", "conv", "batch_norm"};

int main(int argc, char** argv) {
  using namespace vae::bench::kernels;
  CLI::App app{"vaebench-kernels: check and time our CUDA kernels (GEMM, conv and batch-norm families)"};
  app.require_subcommand(1);
  Selection selection;
  std::string device = "auto", family = "gemm";
  std::vector<std::string> shapes, conv_shapes, bn_shapes;
  int version = 0, seeds = 1;

  const auto add_selection = [&](CLI::App* cmd) {
    cmd->add_option("--device", device, "cuda (a GPU), cuda-emu (the CPU executor), or auto: cuda if usable")
        ->check(CLI::IsMember({"auto", "cuda", "cuda-emu"}));
    std::vector<std::string> choices(std::begin(kFamilies), std::end(kFamilies));
    choices.push_back("all");
    cmd->add_option("--family", family, "kernel family, or all (check: every family in turn)")
        ->check(CLI::IsMember(choices));
    cmd->add_option("--version", version, "one version of the family (default: all)")->check(CLI::PositiveNumber);
    cmd->add_option("--shape", shapes, "M,N,K = batch, outputs, inputs (repeatable; default: model layers and odd shapes)")
        ->each([](const std::string& s) {
          try {
            vae::kernels::gemm::check::parse_shape(s);
          } catch (const vae::Error& e) {
            throw CLI::ValidationError(e.what());
          }
        });
    cmd->add_option("--conv-shape", conv_shapes,
                    "--family conv: B:CxHxW:layer, a batch, input and one conv/convT layer in the model's text form, "
                    "e.g. 2:3x5x9:convT7k3s2p1o1:tanh (repeatable; default: the conv presets' layers and odd geometries)")
        ->each([](const std::string& s) {
          try {
            vae::kernels::conv::check::parse_case(s);
          } catch (const vae::Error& e) {
            throw CLI::ValidationError(e.what());
          }
        });
    cmd->add_option("--bn-shape", bn_shapes,
                    "--family batch_norm: B:C:HW[:act], a batch, channels, pixels per channel and the activation "
                    "after it, e.g. 16:64:256:relu (repeatable; default: the presets' batch norms and odd sizes)")
        ->each([](const std::string& s) {
          try {
            vae::kernels::batch_norm::check::parse_case(s);
          } catch (const vae::Error& e) {
            throw CLI::ValidationError(e.what());
          }
        });
    cmd->add_option("--batch", selection.batch,
                    "--family conv / batch_norm: the batch of the presets' layers (default 8)")
        ->check(CLI::Range(1, 1 << 16));
    cmd->add_option("--activation", selection.activation,
                    "for --shape and odd shapes: identity, relu, tanh or all (default: relu forward, tanh backward)")
        ->check(CLI::IsMember({"default", "identity", "relu", "tanh", "all"}));
  };
  CLI::App* check_cmd = app.add_subcommand("check", "every version against double precision; exit 1 on any failure");
  add_selection(check_cmd);
  check_cmd->add_option("--seeds", seeds, "thread orders (CPU executor) or runs (GPU) that must agree bit for bit")
      ->check(CLI::Range(1, 64));
  CLI::App* bench_cmd = app.add_subcommand("bench", "time every version on a GPU (Google Benchmark; --benchmark_* pass through)");
  add_selection(bench_cmd);
  bench_cmd->add_flag("--cublas", selection.cublas, "also time cuBLAS (fp32, TF32, bf16; the bare products) for comparison");
  bench_cmd->add_flag("--cudnn", selection.cudnn,
                      "--family conv: also time LibTorch's convolutions (cuDNN; fp32 with TF32 off, and TF32) for comparison");
  bench_cmd->allow_extras();

  CLI11_PARSE(app, argc, argv);
  try {
    std::string why;
    const bool gpu = vae::device::cuda_usable(&why);
    if (device == "auto") {
      selection.device = gpu ? vae::device::Kind::cuda : vae::device::Kind::emu;
      if (!gpu) std::cout << "device: cuda-emu (the CPU executor; no GPU: " << why << ")\n";
    } else {
      selection.device = device == "cuda" ? vae::device::Kind::cuda : vae::device::Kind::emu;
      if (selection.device == vae::device::Kind::cuda && !gpu) throw vae::Error("--device cuda: " + why);
    }
    if (version && family == "all") throw vae::Error("--version is for one --family; all checks every version of every family");
    if (version) {
      // Each throws naming the family's range.
      if (family == "conv") vae::kernels::conv::version_from_int(version);
      else if (family == "batch_norm") vae::kernels::batch_norm::version_from_int(version);
      else vae::kernels::gemm::version_from_int(version);
      selection.version = version;
    }
    if (family != "conv" && !conv_shapes.empty()) throw vae::Error("--conv-shape is for --family conv");
    if (family != "batch_norm" && !bn_shapes.empty()) throw vae::Error("--bn-shape is for --family batch_norm");
    if (family != "gemm" && !shapes.empty())
      throw vae::Error("--shape M,N,K is for --family gemm; conv takes --conv-shape, batch_norm --bn-shape");
    for (const std::string& s : conv_shapes) selection.conv_cases.push_back(vae::kernels::conv::check::parse_case(s));
    for (const std::string& s : bn_shapes) selection.bn_cases.push_back(vae::kernels::batch_norm::check::parse_case(s));
    for (const std::string& s : shapes) selection.shapes.push_back(vae::kernels::gemm::check::parse_shape(s));
    const auto check_family = [&](const std::string& f) {
      if (f == "conv") return check_conv(selection, seeds);
      if (f == "batch_norm") return check_batch_norm(selection, seeds);
      return check(selection, seeds);
    };
    if (check_cmd->parsed()) {
      if (family != "all") return check_family(family);
      int status = 0;
      for (const char* f : kFamilies) {
        std::cout << "\n== family " << f << "\n" << std::flush;
        status = std::max(status, check_family(f));
      }
      return status;
    }
    if (family == "batch_norm")
      throw vae::Error("bench --family batch_norm: not timed on its own (one element-wise pass per channel); its "
                       "kernels are timed in the training step's per-kernel profile (vaebench-bench --profile-out)");
    if (bench_cmd->count("--batch") == 0) selection.batch = 128;
    std::vector<std::string> families;
    if (family == "all") families.assign(std::begin(kBenchFamilies), std::end(kBenchFamilies));
    else families.push_back(family);
    return bench(selection, families, bench_cmd->remaining());
  } catch (const std::exception& e) {
    std::cerr << "vaebench-kernels: " << e.what() << "\n";
    return 2;
  }
}
