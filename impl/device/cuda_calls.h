#pragma once
// The CUDA runtime calls behind device.h's Kind::cuda, with opaque handles so that device.cpp
// needs no CUDA header. device_cuda.cpp implements them; device_nocuda.cpp, in a build
// without CUDA, answers "not usable" and throws if called.
#include <cstddef>
#include <string>

namespace vae::device::cuda_calls {

enum class CopyKind { host_to_device, device_to_host, device_to_device };

bool usable(std::string* why_not);
void* create_stream();
void destroy_stream(void* stream) noexcept;
void synchronize(void* stream);
void* allocate(std::size_t bytes);
void release(void* p) noexcept;
std::size_t free_bytes();
void copy(void* stream, void* dst, const void* src, std::size_t bytes, CopyKind kind);
void memset(void* stream, void* dst, int byte_value, std::size_t bytes);
void* create_event();
void destroy_event(void* event) noexcept;
void record_event(void* event, void* stream);
void synchronize_event(void* event);
double elapsed_ms(void* start, void* stop);
void begin_capture(void* stream);
void* end_capture(void* stream);  // an instantiated graph
void launch_graph(void* graph_exec, void* stream);
void destroy_graph(void* graph_exec) noexcept;

}  // namespace vae::device::cuda_calls
