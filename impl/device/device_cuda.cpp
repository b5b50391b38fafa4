// device.h's Kind::cuda through the CUDA runtime. Every failure names file:line and CUDA's error.
#include <cuda_runtime.h>

#include "cuda/cuda_check.h"
#include "device/cuda_calls.h"

namespace vae::device::cuda_calls {

namespace {
cudaStream_t s(void* stream) { return static_cast<cudaStream_t>(stream); }
cudaEvent_t e(void* event) { return static_cast<cudaEvent_t>(event); }
}  // namespace

bool usable(std::string* why_not) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    if (why_not)
      *why_not = status != cudaSuccess ? std::string("no CUDA device: ") + cudaGetErrorString(status)
                                       : "no CUDA device on this machine";
    cudaGetLastError();  // clear the sticky error state of a failed query
    return false;
  }
  return true;
}

void* create_stream() {
  cudaStream_t stream = nullptr;
  VAE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return stream;
}
void destroy_stream(void* stream) noexcept { cudaStreamDestroy(s(stream)); }
void synchronize(void* stream) { VAE_CUDA_CHECK(cudaStreamSynchronize(s(stream))); }

void* allocate(std::size_t bytes) {
  void* p = nullptr;
  VAE_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
void release(void* p) noexcept { cudaFree(p); }
std::size_t free_bytes() {
  std::size_t free = 0, total = 0;
  VAE_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return free;
}

void copy(void* stream, void* dst, const void* src, std::size_t bytes, CopyKind kind) {
  const cudaMemcpyKind k = kind == CopyKind::host_to_device   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::device_to_host ? cudaMemcpyDeviceToHost
                                                              : cudaMemcpyDeviceToDevice;
  VAE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, s(stream)));
}
void memset(void* stream, void* dst, int byte_value, std::size_t bytes) {
  VAE_CUDA_CHECK(cudaMemsetAsync(dst, byte_value, bytes, s(stream)));
}

void* create_event() {
  cudaEvent_t event = nullptr;
  VAE_CUDA_CHECK(cudaEventCreate(&event));
  return event;
}
void destroy_event(void* event) noexcept { cudaEventDestroy(e(event)); }
void record_event(void* event, void* stream) { VAE_CUDA_CHECK(cudaEventRecord(e(event), s(stream))); }
void synchronize_event(void* event) { VAE_CUDA_CHECK(cudaEventSynchronize(e(event))); }
double elapsed_ms(void* start, void* stop) {
  float ms = 0;
  VAE_CUDA_CHECK(cudaEventElapsedTime(&ms, e(start), e(stop)));
  return ms;
}

void begin_capture(void* stream) {
  VAE_CUDA_CHECK(cudaStreamBeginCapture(s(stream), cudaStreamCaptureModeThreadLocal));
}
void* end_capture(void* stream) {
  cudaGraph_t graph = nullptr;
  VAE_CUDA_CHECK(cudaStreamEndCapture(s(stream), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  VAE_CUDA_CHECK(status);
  return exec;
}
void launch_graph(void* graph_exec, void* stream) {
  VAE_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph_exec), s(stream)));
}
void destroy_graph(void* graph_exec) noexcept { cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph_exec)); }

}  // namespace vae::device::cuda_calls

namespace vae::kernels::detail {

void check_cuda_launch(cudaError_t status, const char* name, const char* file, int line) {
  if (status != cudaSuccess)
    throw vae::Error(std::string(file) + ":" + std::to_string(line) + ": launching " + name + ": " +
                     cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

}  // namespace vae::kernels::detail
