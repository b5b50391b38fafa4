#pragma once
// cuBLAS as a comparison for the GEMM family's timings (GPU builds only): the same products
// without our fused prologue and epilogue, in fp32, with TF32 tensor-core math, and with bf16
// operands and fp32 compute (cublasGemmEx, the bar for GEMM v6). Never a version of the
// family; `vaebench-kernels bench --cublas` times it beside ours.
#include <memory>
#include <string>
#include <vector>

#include "device/device.h"
#include "kernels/gemm_check.h"
#include "kernels_library_call.h"

namespace vae::bench::kernels {

// Prepares (and validates once) cuBLAS on the layer of `prepared`: forward Y = X·Wᵀ, or
// backward dX = dY·W and dW = dYᵀ·X, in `precision` ("fp32", "tf32", "bf16"; bf16: the
// operands rounded to bf16 once, on the host, as the bytes cuBLAS reads; fp32 results).
// Throws vae::Error in a build without CUDA.
std::shared_ptr<LibraryCall> cublas_call(const device::Stream& stream, const std::string& precision,
                                        const vae::kernels::gemm::check::Prepared& prepared);
inline constexpr const char* kCublasPrecisions[] = {"fp32", "tf32", "bf16"};

}  // namespace vae::bench::kernels
