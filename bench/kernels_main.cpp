// vaebench-kernels: our CUDA kernels, checked and timed one family at a time.
//
//   vaebench-kernels check [--device cuda|cuda-emu] [--family gemm] [--version N]
//                          [--shape M,N,K]... [--activation A] [--seeds S]
//       every version against a double-precision reference, on the default model's layer
//       shapes and odd shapes (or the given ones); a table, exit 1 on any failure.
//   vaebench-kernels bench [same selection] [--cublas] [--benchmark_* ...]
//       Google Benchmark on a GPU with CUDA-event timing, each version validated first;
//       --cublas adds cuBLAS's bare products (fp32, TF32) as a comparison.
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "kernels_commands.h"

int main(int argc, char** argv) {
  using namespace vae::bench::kernels;
  CLI::App app{"vaebench-kernels: check and time our CUDA kernels (GEMM family)"};
  app.require_subcommand(1);
  Selection selection;
  std::string device = "auto", family = "gemm";
  std::vector<std::string> shapes;
  int version = 0, seeds = 1;

  const auto add_selection = [&](CLI::App* cmd) {
    cmd->add_option("--device", device, "cuda (a GPU), cuda-emu (the CPU executor), or auto: cuda if usable")
        ->check(CLI::IsMember({"auto", "cuda", "cuda-emu"}));
    cmd->add_option("--family", family, "kernel family")->check(CLI::IsMember({"gemm"}));
    cmd->add_option("--version", version, "one version (default: all)")
        ->check(CLI::Range(vae::kernels::gemm::kFirstVersion, vae::kernels::gemm::kLastVersion));
    cmd->add_option("--shape", shapes, "M,N,K = batch, outputs, inputs (repeatable; default: model layers and odd shapes)")
        ->each([](const std::string& s) {
          try {
            vae::kernels::gemm::check::parse_shape(s);
          } catch (const vae::Error& e) {
            throw CLI::ValidationError(e.what());
          }
        });
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
  bench_cmd->add_flag("--cublas", selection.cublas, "also time cuBLAS (fp32 and TF32; the bare products) for comparison");
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
    if (version) selection.version = version;
    for (const std::string& s : shapes) selection.shapes.push_back(vae::kernels::gemm::check::parse_shape(s));
    if (check_cmd->parsed()) return check(selection, seeds);
    return bench(selection, bench_cmd->remaining());
  } catch (const std::exception& e) {
    std::cerr << "vaebench-kernels: " << e.what() << "\n";
    return 2;
  }
}
