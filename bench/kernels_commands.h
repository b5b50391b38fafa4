#pragma once
// vaebench-kernels' two commands (bench/kernels_main.cpp parses the options).
#include <optional>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/gemm_check.h"

namespace vae::bench::kernels {

struct Selection {
  device::Kind device = device::Kind::emu;
  std::optional<int> version;                                  // unset: every version
  std::vector<vae::kernels::gemm::check::Shape> shapes;       // empty: model layers + odd shapes
  std::string activation = "default";                          // or identity, relu, tanh, all
  bool cublas = false;                                         // bench: time cuBLAS beside ours
};

// Every selected version against double precision; prints a table, returns the exit status
// (0: all passed). seeds: thread orders (CPU executor) or repeated runs (GPU) that must give
// bitwise-identical results.
int check(const Selection& selection, int seeds);

// Times every selected version on a GPU (validated first); benchmark_args go to Google
// Benchmark. Refuses on the CPU executor.
int bench(const Selection& selection, std::vector<std::string> benchmark_args);

// The cases a selection names: (shape, activation, byte input, label).
struct Case {
  vae::kernels::gemm::check::Shape shape;
  vae::kernels::gemm::Activation activation;
  bool byte_input;
  std::string label;
};
std::vector<Case> cases(const Selection& selection, vae::kernels::gemm::Pass pass);

}  // namespace vae::bench::kernels
