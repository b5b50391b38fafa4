#pragma once
// The device layer: memory, copies, streams, events, whole-step capture, for the two places
// our kernels run. One interface, two implementations:
//   Kind::cuda  the GPU, through the CUDA runtime (device_cuda.cpp; a build without CUDA
//               says so when asked for it);
//   Kind::emu   the CPU executor (impl/emu): "device" memory is host memory, work runs when
//               it is queued (a stream is in order by construction), events read the host
//               clock, and a captured graph is the recorded list of operations, replayed in
//               order.
// Every CUDA error is a vae::Error with file:line and CUDA's name and text for it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "emu/executor.h"

namespace vae::device {

enum class Kind { cuda, emu };

// "cuda" / "cuda-emu": the device names the command line and reports use.
const char* device_name(Kind kind);

// Whether this build and machine can run Kind::cuda; if not, why_not says why.
bool cuda_usable(std::string* why_not = nullptr);

// Bytes that can still be allocated: free GPU memory (Kind::cuda), or the host's available
// physical memory (Kind::emu). For refusing a workload with its size before anything runs.
std::size_t available_bytes(Kind kind);

// A queue of device work. Copyable handle; the last copy releases the CUDA stream it owns.
class Stream {
 public:
  // A new stream on the device (cuda: a non-blocking CUDA stream on the current device).
  explicit Stream(Kind kind, emu::Options emu_options = {});
  // A stream someone else owns (e.g. LibTorch's current stream), not released here.
  static Stream wrap_cuda(void* cuda_stream);

  Kind kind() const;
  void* cuda_stream() const;                 // cudaStream_t; nullptr for Kind::emu
  const emu::Options& emu_options() const;   // thread order seed and workers (Kind::emu)
  void set_emu_options(const emu::Options& options);
  void synchronize() const;

  // Kind::emu: run op now, or append it to the graph being captured.
  void enqueue_emu(std::function<void()> op) const;
  bool capturing() const;

  struct State;
  const std::shared_ptr<State>& state() const { return state_; }

 private:
  explicit Stream(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// Untyped device allocation, released on destruction. Movable, not copyable.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Kind kind, std::size_t bytes);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Kind kind() const { return kind_; }

 private:
  void release() noexcept;
  Kind kind_ = Kind::emu;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// A typed array in device memory.
template <class T>
class Array {
 public:
  Array() = default;
  Array(Kind kind, std::size_t count) : buffer_(kind, count * sizeof(T)), count_(count) {}
  T* data() const { return static_cast<T*>(buffer_.data()); }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }
  Kind kind() const { return buffer_.kind(); }

 private:
  Buffer buffer_;
  std::size_t count_ = 0;
};

// Copies and memset, queued on the stream (asynchronous on a GPU: keep host memory alive
// and synchronize before reading it).
void copy_to_device(const Stream& stream, void* device_dst, const void* host_src, std::size_t bytes);
void copy_to_host(const Stream& stream, void* host_dst, const void* device_src, std::size_t bytes);
void copy_on_device(const Stream& stream, void* device_dst, const void* device_src, std::size_t bytes);
void memset(const Stream& stream, void* device_dst, int byte_value, std::size_t bytes);

// How many host-to-device copies this process has queued (both kinds of stream), so that a
// test can prove a training step needs none.
std::uint64_t host_to_device_copies();

// Convenience: whole arrays, synchronously.
template <class T>
Array<T> to_device(const Stream& stream, const std::vector<T>& host) {
  Array<T> a(stream.kind(), host.size());
  if (!host.empty()) copy_to_device(stream, a.data(), host.data(), a.bytes());
  return a;
}
template <class T>
std::vector<T> to_host(const Stream& stream, const Array<T>& a) {
  std::vector<T> host(a.size());
  if (!host.empty()) copy_to_host(stream, host.data(), a.data(), a.bytes());
  stream.synchronize();
  return host;
}

// A point in a stream's work; two of them time what lies between.
class Event {
 public:
  explicit Event(Kind kind);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(const Stream& stream);
  void synchronize() const;
  // Milliseconds from start to stop (both recorded and completed).
  static double elapsed_ms(const Event& start, const Event& stop);

 private:
  Kind kind_;
  void* cuda_event_ = nullptr;
  std::shared_ptr<double> host_seconds_ = std::make_shared<double>(0.0);  // Kind::emu
};

// A captured sequence of stream work (a CUDA graph; on the CPU executor the recorded list),
// replayed by one launch.
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Everything queued on stream between the two calls is recorded, not run.
  static void begin_capture(const Stream& stream);
  static Graph end_capture(const Stream& stream);

  void launch(const Stream& stream) const;
  bool empty() const { return cuda_exec_ == nullptr && ops_.empty(); }
  std::size_t recorded_operations() const { return ops_.size(); }  // Kind::emu

 private:
  void release() noexcept;
  Kind kind_ = Kind::emu;
  void* cuda_exec_ = nullptr;                  // cudaGraphExec_t
  std::vector<std::function<void()>> ops_;     // Kind::emu
};

}  // namespace vae::device
