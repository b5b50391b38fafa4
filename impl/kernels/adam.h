#pragma once
// The adam family: one optimizer step over the flat parameter buffer, as torch.optim.Adam
// (impl/libtorch/torch_adam.cpp's adam_step, reference/adam.cpp in double) rounds it in fp32,
// with the step count and bias corrections kept on the device so that a captured step
// replays without host arguments (impl/kernels/adam.cu; its header comment lists versions).
// Plain C++, no CUDA types.
//
// A step is two launches:
//   begin   one thread: t = ++state.step; in double, as Python computes torch's scalars,
//           bias_correction1 = 1 - β1^t, bias_correction2 = 1 - β2^t,
//           step_size = lr / bias_correction1, bias_correction2_sqrt = sqrt(bias_correction2);
//           stored rounded to float, which is how torch's tensor ops use a Python scalar.
//   update  every entry i, in fp32 with torch's operation order:
//             m = m + (1-β1)(g - m)              exp_avg.lerp_(g, 1-β1): fused multiply-add,
//                                                as torch's CPU (vectorized) and CUDA lerp
//             v = β2·v + ((1-β2)·g)·g            mul_(β2).addcmul_(g, g, 1-β2): as a fused
//                                                multiply-add, as nvcc compiles torch's CUDA
//                                                addcmul (torch's CPU may round the product
//                                                first: one ulp of v at most)
//             denom = sqrt(v) / bias_correction2_sqrt + eps
//             p = p + (-step_size · m) / denom   addcdiv_(m, denom, -step_size), CPU order
//                                                (torch's CUDA divides first: an ulp of p)
//           and if g is not finite, record[kNonFiniteGradient] takes t (if still -1).
// A non-finite gradient does not skip the step: torch applies it (the parameters turn NaN),
// and so does this kernel, so that both stay comparable; the record is how training learns
// to stop (Backend::first_nonfinite). Differences to torch: at most an ulp per operation
// where torch's two builds already disagree with each other; fp32 noise.
//
// On a GPU pow in double is CUDA's (within 2 ulp of the exact value, glibc's is correctly
// rounded), so a bias correction may differ in the last double bit; after the rounding to
// float it agrees except within an ulp of a float rounding boundary.
#include <cstddef>
#include <cstdint>

#include "device/device.h"
#include "kernels/step_records.h"
#include "model/adam_options.h"

namespace vae::kernels::adam {

enum class Version : int { grid_stride = 1 };
inline constexpr int kFirstVersion = 1, kLastVersion = 1;
Version version_from_int(int v);     // throws vae::Error naming the valid range
const char* version_name(Version v);  // e.g. "v1 grid-stride"

// In device memory, one per optimizer. Set step (0, or a checkpoint's count) before the first
// step; the two floats are the step's scalars, written by the begin launch.
struct DeviceState {
  std::int64_t step = 0;              // steps taken (torch's state["step"])
  float step_size = 0.0f;             // lr / (1 - β1^t) of the latest step
  float bias_correction2_sqrt = 0.0f;  // sqrt(1 - β2^t) of the latest step
};

struct StepArgs {
  std::size_t count = 0;               // entries of the flat buffer
  float* params = nullptr;             // [count]
  float* exp_avg = nullptr;            // [count], m
  float* exp_avg_sq = nullptr;         // [count], v
  const float* grad = nullptr;         // [count]
  AdamOptions options;                 // by value: part of a captured step (a change needs a new capture)
  DeviceState* state = nullptr;        // device
  std::int64_t* nonfinite = nullptr;   // [kNonFiniteSlots] (step_records.h), or null: no record
};

void step(const device::Stream& stream, Version v, const StepArgs& args);

// The checks step() makes, for callers that want the message before launching.
void validate(Version v, const StepArgs& args);

}  // namespace vae::kernels::adam
