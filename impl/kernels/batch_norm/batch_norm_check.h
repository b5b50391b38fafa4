#pragma once
// Running a batch-norm version on random inputs and judging it against the double-precision
// reference (reference/conv_layers.h's batch_norm_*, the suite's spec of nn.BatchNorm2d) with
// validation/tolerances.h's GEMM bounds over n = B·H·W, the length of every per-channel sum
// (the scales are argued there, "Batch norm"). Shared by the kernel tests and
// `vaebench-kernels check --family batch_norm`.
#include <cstdint>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/gemm_check.h"
#include "kernels/gemm_reference.h"

namespace vae::kernels::batch_norm::check {

// One BatchNorm2d to check: [batch, channels, hw] and the activation after it.
struct Case {
  int batch = 2, channels = 1, hw = 1;
  Activation activation = Activation::identity;
  std::string name;
  std::string label() const;  // "B:C:HW:act" as --bn-shape takes it, e.g. "16:64:256:relu"
};

// "B:C:HW[:relu|tanh|none]"; throws vae::Error quoting the text and naming what is wrong.
Case parse_case(const std::string& text);

// The batch-norm layers of every preset (model/layers.h's list) at `batch`.
std::vector<Case> preset_layers(int batch);
// Sizes that fit no block: n = 2 (the least training allows), n < 256 and n not a multiple of
// 256, one channel, many channels, n over 16 blocks' worth; every activation.
std::vector<Case> odd_cases();

enum class Pass { train_forward, eval_forward, backward };
const char* pass_name(Pass p);

struct Prepared {
  Pass pass = Pass::train_forward;
  Case c;
  // x is offset per channel (|mean| up to 5 std): statistics away from a zero mean.
  std::vector<float> x, gamma, beta, running_mean, running_var, dy, y, mean, rstd;
  std::int64_t num_batches_tracked = 0;
  std::vector<std::string> outputs;                  // train: y, mean, rstd, running_mean,
                                                     // running_var, num_batches_tracked;
                                                     // eval: y; backward: dx, dgamma, dbeta,
                                                     // dbias (the preceding conv's bias gradient)
  std::vector<gemm::reference::Expected> expected;   // one per output
};
Prepared prepare(Pass pass, const Case& c, std::uint64_t data_seed = 1);

using OutputResult = gemm::check::OutputResult;

// Runs version v on the stream's device (outputs start as NaN, so unwritten ones fail).
std::vector<OutputResult> run(const device::Stream& stream, Version v, const Prepared& prepared);

}  // namespace vae::kernels::batch_norm::check
