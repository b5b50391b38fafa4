#pragma once
// vaebench-kernels' two commands (bench/kernels_main.cpp parses the options).
#include <optional>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/batch_norm/batch_norm_check.h"
#include "kernels/conv/conv_check.h"
#include "kernels/gemm_check.h"

namespace vae::bench::kernels {

struct Selection {
  device::Kind device = device::Kind::emu;
  std::optional<int> version;                                  // unset: every version
  std::vector<vae::kernels::gemm::check::Shape> shapes;       // empty: model layers + odd shapes
  std::string activation = "default";                          // or identity, relu, tanh, all
  bool cublas = false;                                         // bench: time cuBLAS beside ours
  bool cudnn = false;                                          // bench: time LibTorch's cuDNN convolutions beside ours
  // --family conv / batch_norm: the given layers (--conv-shape / --bn-shape), else every
  // preset's layers of the family at `batch` plus the family's odd cases.
  std::vector<vae::kernels::conv::check::Case> conv_cases;
  std::vector<vae::kernels::batch_norm::check::Case> bn_cases;
  int batch = 8;
};

// Every selected version against double precision; prints a table, returns the exit status
// (0: all passed). seeds: thread orders (CPU executor) or repeated runs (GPU) that must give
// bitwise-identical results.
int check(const Selection& selection, int seeds);
// The same for the conv and batch-norm families (--family conv, --family batch_norm).
int check_conv(const Selection& selection, int seeds);
int check_batch_norm(const Selection& selection, int seeds);

// Times every selected version of the families ("gemm", "conv") on a GPU, in one Google
// Benchmark run (validated first); benchmark_args go to Google Benchmark. Refuses on the CPU
// executor.
int bench(const Selection& selection, const std::vector<std::string>& families,
          std::vector<std::string> benchmark_args);
// The families bench times, in the order `bench --family all` runs them.
inline constexpr const char* kBenchFamilies[] = {"gemm", "conv"};

// The cases a selection names: (shape, activation, byte input, label).
struct Case {
  vae::kernels::gemm::check::Shape shape;
  vae::kernels::gemm::Activation activation;
  bool byte_input;
  std::string label;
};
std::vector<Case> cases(const Selection& selection, vae::kernels::gemm::Pass pass);

}  // namespace vae::bench::kernels
