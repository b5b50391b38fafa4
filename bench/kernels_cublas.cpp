#include "kernels_cublas.h"

#include "common/bf16.h"
#include "common/error.h"

#if defined(VAE_WITH_CUDA)
#include <cublas_v2.h>
#endif

namespace vae::bench::kernels {

namespace gemm = vae::kernels::gemm;

#if !defined(VAE_WITH_CUDA)
std::shared_ptr<LibraryCall> cublas_call(const device::Stream&, const std::string&, const gemm::check::Prepared&) {
  throw vae::Error("bench --cublas: this build has no CUDA (configured with VAE_WITH_CUDA=OFF)");
}
#else
namespace {

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw vae::Error(std::string("cuBLAS ") + what + ": " + cublasGetStatusString(status));
}

struct Handle {
  cublasHandle_t h = nullptr;
  Handle() { check(cublasCreate(&h), "cublasCreate"); }
  ~Handle() { cublasDestroy(h); }
};

struct State {
  Handle handle;
  std::vector<device::Array<float>> arrays;
  std::vector<device::Array<std::uint16_t>> bf16_arrays;
};

// C (m×n, column-major, fp32) = op(A)·op(B) with operands of the call's type.
struct Product {
  cublasHandle_t h;
  bool bf16;
  void operator()(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* a, int lda,
                  const void* b, int ldb, float* c, int ldc, const char* what) const {
    const float one = 1, zero = 0;
    if (!bf16) {
      check(cublasSgemm(h, ta, tb, m, n, k, &one, static_cast<const float*>(a), lda, static_cast<const float*>(b), ldb,
                        &zero, c, ldc),
            what);
      return;
    }
    check(cublasGemmEx(h, ta, tb, m, n, k, &one, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb, &zero, c, CUDA_R_32F, ldc,
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          what);
  }
};

}  // namespace

std::shared_ptr<LibraryCall> cublas_call(const device::Stream& stream, const std::string& precision,
                                        const gemm::check::Prepared& prepared) {
  const bool tf32 = precision == "tf32", bf16 = precision == "bf16";
  if (!tf32 && !bf16 && precision != "fp32") throw vae::Error("bench --cublas: no cuBLAS comparison in " + precision);
  // Without prologue or epilogue: judge against the reference of the bare products.
  gemm::check::Prepared bare = prepared;
  auto& l = bare.layer;
  l.activation = gemm::Activation::identity;
  l.bias.clear();
  if (!l.x_bytes.empty()) {  // cuBLAS reads floats: the bytes as the kernels see them
    for (std::uint8_t b : l.x_bytes) l.x.push_back(float(b) / 255.0f);
    l.x_bytes.clear();
  }
  if (bare.pass == gemm::Pass::forward) {
    bare.expected = {gemm::reference::forward(l)};
  } else {
    auto b = gemm::reference::backward(l);
    bare.outputs = {"dx", "dw"};
    bare.expected = {std::move(b.dx), std::move(b.dw)};
  }
  auto state = std::make_shared<State>();
  check(cublasSetStream(state->handle.h, static_cast<cudaStream_t>(stream.cuda_stream())), "cublasSetStream");
  check(cublasSetMathMode(state->handle.h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
  const int M = l.batch, K = l.in, N = l.out;
  // An operand on the device as cuBLAS reads it: floats, or their bf16 bits.
  const auto operand = [&](const std::vector<float>& v) -> const void* {
    if (!bf16) return state->arrays.emplace_back(device::to_device(stream, v)).data();
    std::vector<std::uint16_t> bits(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) bits[i] = vae::bf16_bits(v[i]);
    return state->bf16_arrays.emplace_back(device::to_device(stream, bits)).data();
  };
  const void* x = operand(l.x);
  const void* w = operand(l.weight);
  const double operand_bytes = bf16 ? 2.0 : 4.0;
  const Product product{state->handle.h, bf16};
  auto result = std::make_shared<LibraryCall>();
  result->name = "cublas-" + precision;
  result->precision = precision;
  std::vector<float*> outs;
  // Row-major A[r,c] is column-major Aᵀ: each product below is the transposed one.
  if (bare.pass == gemm::Pass::forward) {
    float* y = state->arrays.emplace_back(stream.kind(), std::size_t(M) * N).data();
    outs = {y};
    result->call = [state, product, x, w, y, M, N, K](const device::Stream&) {
      // Yᵀ (N×M) = W (as Kᵀ×N)ᵀ · Xᵀ (K×M)
      product(CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, w, K, x, K, y, N, "gemm");
    };
    result->flops = 2.0 * M * N * K;
    result->bytes_moved = operand_bytes * (double(M) * K + double(N) * K) + 4.0 * double(M) * N;
  } else {
    const void* g = operand(l.dy);
    float* dx = state->arrays.emplace_back(stream.kind(), std::size_t(M) * K).data();
    float* dw = state->arrays.emplace_back(stream.kind(), std::size_t(N) * K).data();
    outs = {dx, dw};
    result->call = [state, product, x, w, g, dx, dw, M, N, K](const device::Stream&) {
      // dXᵀ (K×M) = Wᵀ (K×N) · Gᵀ (N×M);  dWᵀ (K×N) = Xᵀ (K×M) · G (M×N)
      product(CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, w, K, g, N, dx, K, "gemm dX");
      product(CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, x, K, g, N, dw, K, "gemm dW");
    };
    result->flops = 4.0 * M * N * K;
    result->bytes_moved = operand_bytes * (2.0 * M * N + double(N) * K + double(M) * K) + 4.0 * (double(M) * K + double(N) * K);
  }
  result->call(stream);
  stream.synchronize();
  const tol::GemmTolerance& t = tol::gemm(result->precision);
  for (std::size_t o = 0; o < outs.size(); ++o) {
    std::vector<float> got(bare.expected[o].want.size());
    device::copy_to_host(stream, got.data(), outs[o], got.size() * sizeof(float));
    stream.synchronize();
    judge_library_output(bare.outputs[o], got, bare.expected[o], t, result->failures);
  }
  return result;
}
#endif

}  // namespace vae::bench::kernels
