#pragma once
// Timing device work the way the device sees it. On a GPU, host clocks measure when the
// host queued the work, not when the device did it, so a CUDA backend times with events
// recorded on its stream; a CPU backend, whose work is done when the call returns, times
// with the host's steady clock (after synchronize(), for backends with worker threads).
// Part of the device layer: the fused kernels, the kernel tool and the LibTorch backends on
// a GPU all time with the same EventIntervalTimer.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "device/device.h"

namespace vae {

class IntervalTimer {
 public:
  virtual ~IntervalTimer() = default;
  virtual void start() = 0;
  // Seconds since start(), waiting for the device to finish the work queued in between.
  virtual double stop_seconds() = 0;
  // "steady_clock" or "cuda_events": recorded in benchmark output.
  virtual std::string method() const = 0;
};

class HostIntervalTimer final : public IntervalTimer {
 public:
  explicit HostIntervalTimer(std::function<void()> synchronize) : synchronize_(std::move(synchronize)) {}
  void start() override {
    synchronize_();
    start_ = std::chrono::steady_clock::now();
  }
  double stop_seconds() override {
    synchronize_();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  std::string method() const override { return "steady_clock"; }

 private:
  std::function<void()> synchronize_;
  std::chrono::steady_clock::time_point start_;
};

// Two device events on a stream: their distance is the device's time for the work queued in
// between, whatever the host did meanwhile. On a CUDA stream these are CUDA events; on the
// CPU executor, host-clock stamps taken in stream order.
class EventIntervalTimer final : public IntervalTimer {
 public:
  explicit EventIntervalTimer(device::Stream stream)
      : stream_(std::move(stream)), start_(stream_.kind()), stop_(stream_.kind()) {}
  void start() override { start_.record(stream_); }
  double stop_seconds() override {
    stop_.record(stream_);
    stop_.synchronize();
    return device::Event::elapsed_ms(start_, stop_) / 1e3;
  }
  std::string method() const override { return stream_.kind() == device::Kind::cuda ? "cuda_events" : "emu_events"; }

 private:
  device::Stream stream_;
  device::Event start_, stop_;
};

}  // namespace vae
