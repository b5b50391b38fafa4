#pragma once
// A library's version of a kernel family's call, timed beside ours by `vaebench-kernels bench`
// (--cublas for the GEMMs, --cudnn for the convolutions): never a version of the family. It is
// validated once against the same double-precision reference as our versions, and an invalid
// one is reported and not timed.
#include <functional>
#include <string>
#include <vector>

#include "device/device.h"

namespace vae::bench::kernels {

struct LibraryCall {
  std::string name;                                    // e.g. "cublas-tf32", "cudnn-fp32"
  std::string precision;                               // "fp32" / "tf32" / "bf16": tolerances and peak
  std::function<void(const device::Stream&)> call;     // the timed work
  double flops = 0, bytes_moved = 0;
  std::vector<std::string> failures;                   // against double precision; empty = valid
};

}  // namespace vae::bench::kernels
