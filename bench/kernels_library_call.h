#pragma once
// A library's version of a kernel family's call, timed beside ours by `vaebench-kernels bench`
// (--cublas for the GEMMs, --cudnn for the convolutions): never a version of the family. It is
// validated once against the same double-precision reference as our versions, and an invalid
// one is reported and not timed.
#include <functional>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/gemm_reference.h"

namespace vae::bench::kernels {

struct LibraryCall {
  std::string name;                                    // e.g. "cublas-tf32", "cudnn-fp32"
  std::string precision;                               // "fp32" / "tf32" / "bf16": tolerances and peak
  std::function<void(const device::Stream&)> call;     // the timed work
  double flops = 0, bytes_moved = 0;
  std::vector<std::string> failures;                   // against double precision; empty = valid
};

// Judges one output of a library call against the reference with the family's tolerance: a
// failure line ("dx: norm-wise ..., N% of tolerance", or a size mismatch) into `failures`.
inline void judge_library_output(const std::string& output, const std::vector<float>& got,
                                 const vae::kernels::gemm::reference::Expected& expected,
                                 const tol::GemmTolerance& tolerance, std::vector<std::string>& failures) {
  if (got.size() != expected.want.size()) {
    failures.push_back(output + ": " + std::to_string(got.size()) + " values, expected " +
                       std::to_string(expected.want.size()));
    return;
  }
  const auto c = vae::kernels::gemm::reference::compare(got, expected, tolerance);
  if (!c.pass)
    failures.push_back(output + ": norm-wise " + std::to_string(c.norm_rel) + ", " +
                       std::to_string(c.percent_of_tolerance) + "% of tolerance");
}

}  // namespace vae::bench::kernels
