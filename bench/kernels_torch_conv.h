#pragma once
// LibTorch's convolution as the comparison for the conv family's timings (`vaebench-kernels
// bench --family conv --cudnn`): what an eager PyTorch layer runs for the same work. Forward:
// at::convolution with the bias, then the activation in place; backward: the activation's
// backward (threshold_backward, tanh_backward), then at::convolution_backward for dX, dW and db,
// as autograd calls it. On a GPU that is cuDNN, with its autotuner on (benchmark mode, the first
// call, which validates, also picks the algorithm); fp32 with TF32 off (PyTorch's default for
// cuDNN is on) or tf32. On a CPU-executor stream it runs LibTorch's CPU convolution in fp32:
// the same mapping of geometry, activation and outputs, so a machine without a GPU checks it
// against the reference (tests/test_conv_library.cpp). Never a version of the family.
#include <memory>
#include <string>

#include "device/device.h"
#include "kernels/conv/conv_check.h"
#include "kernels_library_call.h"

namespace vae::bench::kernels {

// Whether this build has the comparison (LibTorch linked), and if not why.
bool torch_conv_available(std::string* why);

// Prepares and validates once LibTorch's version of `prepared` (a forward or a backward of one
// conv / transposed-conv layer) in `precision`: "fp32" or, on a GPU, "tf32". Outputs are judged
// with the family's tolerances (tolerances.h), as ours are. Throws vae::Error for another
// precision, tf32 on the CPU, or a build without LibTorch.
std::shared_ptr<LibraryCall> torch_conv_call(const device::Stream& stream, const std::string& precision,
                                             const vae::kernels::conv::check::Prepared& prepared);
inline constexpr const char* kCudnnPrecisions[] = {"fp32", "tf32"};

// The work of one conv call, counted as the work model counts it (model/flops.h): 2 flops per
// multiply-add of the convolution (Cout·Ho·Wo·Cin·k² per image for conv2d, Cin·H·W·Cout·k² for
// the transposed one), once forward, twice backward (dW, dX) plus the bias adds / sums; bytes
// are the compulsory traffic (each operand read once, each result written once), x as bytes
// when the layer reads uint8 images and `reads_bytes`.
struct ConvWork {
  double flops = 0, bytes_moved = 0;
};
ConvWork conv_work(const vae::kernels::conv::check::Prepared& prepared, bool reads_bytes);

}  // namespace vae::bench::kernels
