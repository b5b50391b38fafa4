#include "kernels_cublas.h"

#include "common/error.h"

#if defined(VAE_WITH_CUDA)
#include <cublas_v2.h>
#endif

namespace vae::bench::kernels {

namespace gemm = vae::kernels::gemm;

#if !defined(VAE_WITH_CUDA)
std::shared_ptr<CublasCall> cublas_call(const device::Stream&, bool, const gemm::check::Prepared&) {
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
};

}  // namespace

std::shared_ptr<CublasCall> cublas_call(const device::Stream& stream, bool tf32, const gemm::check::Prepared& prepared) {
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
  const float* x = state->arrays.emplace_back(device::to_device(stream, l.x)).data();
  const float* w = state->arrays.emplace_back(device::to_device(stream, l.weight)).data();
  auto result = std::make_shared<CublasCall>();
  result->name = tf32 ? "cublas-tf32" : "cublas-fp32";
  result->precision = tf32 ? "tf32" : "fp32";
  std::vector<float*> outs;
  // Row-major A[r,c] is column-major Aᵀ: each product below is the transposed one.
  if (bare.pass == gemm::Pass::forward) {
    float* y = state->arrays.emplace_back(stream.kind(), std::size_t(M) * N).data();
    outs = {y};
    result->call = [state, x, w, y, M, N, K](const device::Stream&) {
      const float one = 1, zero = 0;  // Yᵀ (N×M) = W (as Kᵀ×N)ᵀ · Xᵀ (K×M)
      check(cublasSgemm(state->handle.h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w, K, x, K, &zero, y, N), "sgemm");
    };
    result->flops = 2.0 * M * N * K;
    result->bytes_moved = 4.0 * (double(M) * K + double(N) * K + double(M) * N);
  } else {
    const float* g = state->arrays.emplace_back(device::to_device(stream, l.dy)).data();
    float* dx = state->arrays.emplace_back(stream.kind(), std::size_t(M) * K).data();
    float* dw = state->arrays.emplace_back(stream.kind(), std::size_t(N) * K).data();
    outs = {dx, dw};
    result->call = [state, x, w, g, dx, dw, M, N, K](const device::Stream&) {
      const float one = 1, zero = 0;
      // dXᵀ (K×M) = Wᵀ (K×N) · Gᵀ (N×M);  dWᵀ (K×N) = Xᵀ (K×M) · G (M×N)
      check(cublasSgemm(state->handle.h, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, &one, w, K, g, N, &zero, dx, K), "sgemm dX");
      check(cublasSgemm(state->handle.h, CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, &one, x, K, g, N, &zero, dw, K), "sgemm dW");
    };
    result->flops = 4.0 * M * N * K;
    result->bytes_moved = 4.0 * (2.0 * M * N + double(N) * K + double(M) * K + double(M) * K + double(N) * K);
  }
  result->call(stream);
  stream.synchronize();
  const tol::GemmTolerance& t = tol::gemm(result->precision);
  for (std::size_t o = 0; o < outs.size(); ++o) {
    std::vector<float> got(bare.expected[o].want.size());
    device::copy_to_host(stream, got.data(), outs[o], got.size() * sizeof(float));
    stream.synchronize();
    const auto c = gemm::reference::compare(got, bare.expected[o], t);
    if (!c.pass)
      result->failures.push_back(bare.outputs[o] + ": norm-wise " + std::to_string(c.norm_rel) + ", " +
                                 std::to_string(c.percent_of_tolerance) + "% of tolerance");
  }
  return result;
}
#endif

}  // namespace vae::bench::kernels
