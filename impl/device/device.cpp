// device.h: Kind::emu here, Kind::cuda through cuda_calls.h.
#include "device/device.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include <unistd.h>

#include "device/cuda_calls.h"

namespace vae::device {

struct Stream::State {
  Kind kind = Kind::emu;
  emu::Options emu;
  void* cuda = nullptr;
  bool owns_cuda = false;
  bool capturing = false;
  std::vector<std::function<void()>> captured;  // Kind::emu, while capturing

  ~State() {
    if (owns_cuda) cuda_calls::destroy_stream(cuda);
  }
};

const char* device_name(Kind kind) { return kind == Kind::cuda ? "cuda" : "cuda-emu"; }

bool cuda_usable(std::string* why_not) { return cuda_calls::usable(why_not); }

std::size_t available_bytes(Kind kind) {
  if (kind == Kind::cuda) return cuda_calls::free_bytes();
  return std::size_t(sysconf(_SC_AVPHYS_PAGES)) * std::size_t(sysconf(_SC_PAGESIZE));
}

Stream::Stream(Kind kind, emu::Options emu_options) : state_(std::make_shared<State>()) {
  state_->kind = kind;
  state_->emu = emu_options;
  if (kind == Kind::cuda) {
    state_->cuda = cuda_calls::create_stream();
    state_->owns_cuda = true;
  }
}

Stream Stream::wrap_cuda(void* cuda_stream) {
  auto state = std::make_shared<State>();
  state->kind = Kind::cuda;
  state->cuda = cuda_stream;
  return Stream(std::move(state));
}

Kind Stream::kind() const { return state_->kind; }
void* Stream::cuda_stream() const { return state_->cuda; }
const emu::Options& Stream::emu_options() const { return state_->emu; }
void Stream::set_emu_options(const emu::Options& options) { state_->emu = options; }
bool Stream::capturing() const { return state_->capturing; }

void Stream::synchronize() const {
  if (kind() == Kind::cuda) cuda_calls::synchronize(state_->cuda);
}

void Stream::enqueue_emu(std::function<void()> op) const {
  if (kind() != Kind::emu) throw vae::Error("device: CPU-executor work queued on a CUDA stream");
  if (state_->capturing)
    state_->captured.push_back(std::move(op));
  else
    op();
}

// --- Memory -----------------------------------------------------------------------------
Buffer::Buffer(Kind kind, std::size_t bytes) : kind_(kind), bytes_(bytes) {
  if (bytes == 0) return;
  if (kind == Kind::cuda) {
    data_ = cuda_calls::allocate(bytes);
  } else {
    // Exactly the bytes asked for, so AddressSanitizer sees a kernel's first byte past the end;
    // aligned as cudaMalloc's (256 bytes), so alignment rules (wmma's 32 bytes) hold as on a GPU.
    if (posix_memalign(&data_, 256, bytes) != 0) data_ = nullptr;
    if (!data_)
      throw vae::Error("device cuda-emu: cannot allocate " + std::to_string(bytes) + " bytes of host memory");
  }
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& other) noexcept : kind_(other.kind_), data_(other.data_), bytes_(other.bytes_) {
  other.data_ = nullptr;
  other.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    kind_ = other.kind_;
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void Buffer::release() noexcept {
  if (!data_) return;
  if (kind_ == Kind::cuda)
    cuda_calls::release(data_);
  else
    std::free(data_);
  data_ = nullptr;
}

// --- Copies -------------------------------------------------------------------------------
namespace {
void copy_bytes(const Stream& stream, void* dst, const void* src, std::size_t bytes, cuda_calls::CopyKind kind) {
  if (bytes == 0) return;
  if (stream.kind() == Kind::cuda)
    cuda_calls::copy(stream.cuda_stream(), dst, src, bytes, kind);
  else
    stream.enqueue_emu([dst, src, bytes] { std::memcpy(dst, src, bytes); });
}
}  // namespace

namespace {
std::atomic<std::uint64_t> h2d_copies{0};
}  // namespace

std::uint64_t host_to_device_copies() { return h2d_copies.load(std::memory_order_relaxed); }

void copy_to_device(const Stream& stream, void* device_dst, const void* host_src, std::size_t bytes) {
  h2d_copies.fetch_add(1, std::memory_order_relaxed);
  copy_bytes(stream, device_dst, host_src, bytes, cuda_calls::CopyKind::host_to_device);
}
void copy_to_host(const Stream& stream, void* host_dst, const void* device_src, std::size_t bytes) {
  copy_bytes(stream, host_dst, device_src, bytes, cuda_calls::CopyKind::device_to_host);
}
void copy_on_device(const Stream& stream, void* device_dst, const void* device_src, std::size_t bytes) {
  copy_bytes(stream, device_dst, device_src, bytes, cuda_calls::CopyKind::device_to_device);
}
void memset(const Stream& stream, void* device_dst, int byte_value, std::size_t bytes) {
  if (bytes == 0) return;
  if (stream.kind() == Kind::cuda)
    cuda_calls::memset(stream.cuda_stream(), device_dst, byte_value, bytes);
  else
    stream.enqueue_emu([device_dst, byte_value, bytes] { std::memset(device_dst, byte_value, bytes); });
}

// --- Events ---------------------------------------------------------------------------------
Event::Event(Kind kind) : kind_(kind) {
  if (kind == Kind::cuda) cuda_event_ = cuda_calls::create_event();
}
Event::~Event() {
  if (cuda_event_) cuda_calls::destroy_event(cuda_event_);
}

void Event::record(const Stream& stream) {
  if (stream.kind() != kind_) throw vae::Error("device: an event recorded on a stream of the other kind");
  if (kind_ == Kind::cuda) {
    cuda_calls::record_event(cuda_event_, stream.cuda_stream());
    return;
  }
  std::shared_ptr<double> when = host_seconds_;
  stream.enqueue_emu([when] {
    *when = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  });
}

void Event::synchronize() const {
  if (kind_ == Kind::cuda) cuda_calls::synchronize_event(cuda_event_);
}

double Event::elapsed_ms(const Event& start, const Event& stop) {
  if (start.kind_ != stop.kind_) throw vae::Error("device: elapsed time between events of two kinds");
  if (start.kind_ == Kind::cuda) return cuda_calls::elapsed_ms(start.cuda_event_, stop.cuda_event_);
  return (*stop.host_seconds_ - *start.host_seconds_) * 1e3;
}

// --- Graphs -----------------------------------------------------------------------------------
Graph::~Graph() { release(); }

Graph::Graph(Graph&& other) noexcept : kind_(other.kind_), cuda_exec_(other.cuda_exec_), ops_(std::move(other.ops_)) {
  other.cuda_exec_ = nullptr;
}

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    release();
    kind_ = other.kind_;
    cuda_exec_ = other.cuda_exec_;
    ops_ = std::move(other.ops_);
    other.cuda_exec_ = nullptr;
  }
  return *this;
}

void Graph::release() noexcept {
  if (cuda_exec_) cuda_calls::destroy_graph(cuda_exec_);
  cuda_exec_ = nullptr;
  ops_.clear();
}

void Graph::begin_capture(const Stream& stream) {
  Stream::State& s = *stream.state();
  if (s.capturing) throw vae::Error("device: begin_capture on a stream that is already capturing");
  if (s.kind == Kind::cuda) cuda_calls::begin_capture(s.cuda);
  s.capturing = true;
  s.captured.clear();
}

Graph Graph::end_capture(const Stream& stream) {
  Stream::State& s = *stream.state();
  if (!s.capturing) throw vae::Error("device: end_capture on a stream that is not capturing");
  s.capturing = false;
  Graph g;
  g.kind_ = s.kind;
  if (s.kind == Kind::cuda)
    g.cuda_exec_ = cuda_calls::end_capture(s.cuda);
  else
    g.ops_ = std::move(s.captured);
  s.captured.clear();
  return g;
}

void Graph::launch(const Stream& stream) const {
  if (stream.kind() != kind_) throw vae::Error("device: a graph launched on a stream of the other kind");
  if (kind_ == Kind::cuda) {
    cuda_calls::launch_graph(cuda_exec_, stream.cuda_stream());
    return;
  }
  if (stream.capturing()) throw vae::Error("device: a CPU-executor graph launched while its stream captures");
  for (const auto& op : ops_) op();
}

}  // namespace vae::device
