// device.h's Kind::cuda in a build without CUDA: not usable, and any call says why.
#include "common/error.h"
#include "device/cuda_calls.h"

namespace vae::device::cuda_calls {

namespace {
[[noreturn]] void no_cuda() { throw vae::Error("device cuda: this build has no CUDA (configured with VAE_WITH_CUDA=OFF)"); }
}  // namespace

bool usable(std::string* why_not) {
  if (why_not) *why_not = "this build has no CUDA (configured with VAE_WITH_CUDA=OFF)";
  return false;
}
void* create_stream() { no_cuda(); }
void destroy_stream(void*) noexcept {}
void synchronize(void*) { no_cuda(); }
void* allocate(std::size_t) { no_cuda(); }
void release(void*) noexcept {}
std::size_t free_bytes() { no_cuda(); }
void copy(void*, void*, const void*, std::size_t, CopyKind) { no_cuda(); }
void memset(void*, void*, int, std::size_t) { no_cuda(); }
void* create_event() { no_cuda(); }
void destroy_event(void*) noexcept {}
void record_event(void*, void*) { no_cuda(); }
void synchronize_event(void*) { no_cuda(); }
double elapsed_ms(void*, void*) { no_cuda(); }
void begin_capture(void*) { no_cuda(); }
void* end_capture(void*) { no_cuda(); }
void launch_graph(void*, void*) { no_cuda(); }
void destroy_graph(void*) noexcept {}

}  // namespace vae::device::cuda_calls
